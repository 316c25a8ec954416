/**
 * The `shuyu` command line of the client SDK. Command groups live in ./commands/*.ts, each exporting
 * `register(program)`; cli/main.ts adds the server's operator commands and runs it.
 * Exit codes: 0 ok, 1 invalid / failed check, 2 usage error (commander's own parse errors included).
 */
import { Command, CommanderError } from 'commander';
import * as crypto from './commands/crypto.js';
import * as sdkCommands from './commands/index.js';

export interface CommandGroup {
  register(program: Command): void;
}
const GROUPS: CommandGroup[] = [crypto, sdkCommands];

export function buildProgram(extra: CommandGroup[] = []): Command {
  const program = new Command('shuyu');
  // exitOverride before registering: subcommands inherit it, so a usage error anywhere throws
  // a CommanderError here instead of calling process.exit(1).
  program.description('Shuyu (数域) command line').version('0.1.0').exitOverride().showHelpAfterError(false);
  for (const g of [...GROUPS, ...extra]) g.register(program);
  return program;
}

/** The last resort: an error no command caught is one line on stderr and exit 1, never a stack trace (SHUYU_DEBUG=1 shows it). */
function lastResort(e: unknown): void {
  const message = (e instanceof Error ? e.message : String(e)).replace(/\s*[\r\n]+\s*/g, ' ');
  process.stderr.write(`shuyu: ${message}\n`);
  if (process.env.SHUYU_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}

export async function main(argv: string[], extra: CommandGroup[] = []): Promise<void> {
  process.on('uncaughtException', lastResort);
  process.on('unhandledRejection', lastResort);
  try {
    await buildProgram(extra).parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help / --version exit 0; every other commander error is a usage error (missing option,
      // unknown command, no command at all) and exits 2. Commander already printed the message.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    lastResort(e);
  }
}
