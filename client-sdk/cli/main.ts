import { Command } from 'commander';
const program = new Command('shuyu');
program.description('Shuyu (数域) command line').version('0.1.0');
await program.parseAsync(process.argv);
