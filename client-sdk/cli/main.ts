/**
 * The `shuyu` command line of the client SDK. Command groups live in ./commands/*.ts, each exporting
 * `register(program)`; cli/main.ts adds the server's operator commands and runs it.
 * Exit codes (README's table): 0 ok, 1 refused or failed, 2 usage, 3 server unreachable.
 *
 * Start-up time is what a person waits for on every call, so only the group a command belongs to is
 * imported: GROUPS names each group's top-level commands with their one-line descriptions (what
 * `shuyu --help` shows), and its module is loaded only when one of them is run.
 */
import { Command, CommanderError } from 'commander';
import { visible } from './output.js';

export interface CommandGroup {
  register(program: Command): void;
}

/** A command group known by its top-level command names and descriptions, imported when one of them runs. */
export interface LazyGroup {
  commands: Record<string, string>;
  load: () => Promise<CommandGroup>;
}

export const GROUPS: LazyGroup[] = [
  {
    commands: {
      login: 'check a token against a deployment and store it as a profile (0600), pinning the enclave key',
      whoami: 'show the user and organisation behind the current profile',
      enclave: 'the enclave signing key this profile pinned (receipts must be signed by it)',
      profiles: 'list or switch stored profiles',
    },
    load: () => import('./commands/session.js'),
  },
  { commands: { key: 'your SM2 key (make one with: shuyu sm2 keygen --out DIR)' }, load: () => import('./commands/key.js') },
  { commands: { owner: 'data owner: check, seal and upload datasets; offers; revenue' }, load: () => import('./commands/owner.js') },
  { commands: { catalog: 'search the catalogue of datasets' }, load: () => import('./commands/catalog.js') },
  { commands: { buyer: 'buyer: offers, quotes, requests, trades, results, wallet' }, load: () => import('./commands/buyer.js') },
  { commands: { reviewer: 'compliance reviewer: queue, cases, signed approvals, rejections' }, load: () => import('./commands/reviewer.js') },
  { commands: { verify: 'verify a receipt offline against the pinned enclave key (exit 0 valid, 1 invalid)' }, load: () => import('./commands/verify.js') },
  { commands: { audit: 'audit chain: verify, events, checkpoints (operator)' }, load: () => import('./commands/audit.js') },
  {
    commands: { admin: 'operator commands: organisations, users, tokens, reviewer certificates, top-ups, policy' },
    load: () => import('./commands/admin.js'),
  },
  {
    commands: {
      sm2: 'SM2 keys and signatures (GB/T 32918), interoperable with OpenSSL 3',
      sm3: 'SM3 digest (GB/T 32905) of FILE as hex ("-" = stdin)',
    },
    load: () => import('./commands/crypto.js'),
  },
];

/** The command a command line runs: its first word that is not an option (`help X` runs X's help). */
function commandName(args: string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

export async function buildProgram(extra: LazyGroup[] = [], args: string[] = []): Promise<Command> {
  const program = new Command('shuyu');
  // exitOverride before registering: subcommands inherit it, so a usage error anywhere throws
  // a CommanderError here instead of calling process.exit(1).
  program
    .description('Shuyu (数域) command line')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError(false)
    // commander's own usage errors in the same one-line form as every other error (subcommands inherit this)
    .configureOutput({
      outputError: (text, write) => {
        const line = text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ');
        write(`shuyu: ${line} (${/command/.test(line) ? 'shuyu --help lists the commands' : '--help lists the options'})\n`);
      },
    });
  const groups = [...GROUPS, ...extra];
  const name = commandName(args);
  const wanted = groups.find((g) => name !== undefined && Object.hasOwn(g.commands, name));
  for (const g of groups) {
    if (g === wanted) (await g.load()).register(program);
    // the other groups are only names for the help and for commander's "did you mean"
    else for (const [cmd, description] of Object.entries(g.commands)) program.command(cmd).description(description);
  }
  return program;
}

/** The last resort: an error no command caught is one line on stderr and exit 1, never a stack trace (SHUYU_DEBUG=1 shows it). */
function lastResort(e: unknown): void {
  const message = visible((e instanceof Error ? e.message : String(e)).replace(/\s*[\r\n]+\s*/g, ' '));
  process.stderr.write(`shuyu: ${message}\n`);
  if (process.env.SHUYU_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}

export async function main(argv: string[], extra: LazyGroup[] = []): Promise<void> {
  process.on('uncaughtException', lastResort);
  process.on('unhandledRejection', lastResort);
  try {
    await (await buildProgram(extra, argv.slice(2))).parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help / --version exit 0; every other commander error is a usage error (missing option,
      // unknown command, no command at all) and exits 2. Commander already printed the message.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      // a script asked for JSON: it gets the usage error as a document too, as for every other error
      if (e.exitCode !== 0 && argv.includes('--json')) {
        const detail = e.message.replace(/^error: /, '');
        process.stdout.write(JSON.stringify({ error: { type: 'usage', title: 'usage error', status: 400, detail } }, null, 2) + '\n');
      }
      return;
    }
    lastResort(e);
  }
}
