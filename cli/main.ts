/**
 * The `shuyu` command (bin/shuyu.js runs this): the client SDK's commands, which speak HTTP, and the server's
 * operator commands (`shuyu server start|rotate-master-secret`, `shuyu enclave worker`), which run on the
 * server's host. Each group is imported only when one of its commands runs (client-sdk/cli/main.ts).
 */
import { main } from '../client-sdk/cli/main.js';

const words = process.argv.slice(2).filter((a) => !a.startsWith('-'));
if (words[0] === 'enclave' && words[1] === 'worker') {
  // `shuyu enclave` alone is the client's pinned-key command; its `worker` subcommand is the server's
  const { Command } = await import('commander');
  const program = new Command('shuyu');
  (await import('../server/cli/commands.js')).registerWorker(program);
  await program.parseAsync(process.argv);
} else {
  await main(process.argv, [{ commands: { server: 'run a Shuyu server' }, load: () => import('../server/cli/commands.js') }]);
}
