import type { Command } from 'commander';

/** `shuyu owner offer|offers|revenue` — registered once the offers and ledger routes exist. */
export function registerOfferCommands(_owner: Command): void {}
