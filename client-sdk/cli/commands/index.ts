import type { Command } from 'commander';
import * as admin from './admin.js';
import * as audit from './audit.js';
import * as buyer from './buyer.js';
import * as catalog from './catalog.js';
import * as key from './key.js';
import * as owner from './owner.js';
import * as reviewer from './reviewer.js';
import * as session from './session.js';
import * as verify from './verify.js';

/** The SDK-side command groups (login, owner, buyer, reviewer, catalog, verify, audit, admin), registered by main.ts. */
export function register(program: Command): void {
  for (const m of [session, key, owner, catalog, buyer, reviewer, verify, audit, admin]) m.register(program);
}
