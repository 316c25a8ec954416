/**
 * The `shuyu` command (bin/shuyu.js runs this): the client SDK's commands, which speak HTTP, and the server's
 * operator commands (`shuyu server start|rotate-master-secret`, `shuyu enclave worker`), which run on the server's host.
 */
import { main } from '../client-sdk/cli/main.js';
import * as server from '../server/cli/commands.js';

await main(process.argv, [server, { register: server.registerWorker }]);
