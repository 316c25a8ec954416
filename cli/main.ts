/**
 * The `shuyu` command (bin/shuyu.js runs this): the client SDK's commands, which speak HTTP, and the server's
 * operator commands (`shuyu server start|rotate-master-secret`), which run on the server's host. Each group is
 * imported only when one of its commands runs (client-sdk/cli/main.ts).
 */
import { main } from '../client-sdk/cli/main.js';

await main(process.argv, [{ commands: { server: 'run a Shuyu server' }, load: () => import('../server/cli/commands.js') }]);
