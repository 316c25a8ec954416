import { isDomainError } from '../../../contracts/errors.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { openEnclaveState, type EnclaveState } from '../../../enclave/state/state.js';
import type { Store } from '../../../store/engine.js';
import { freshSchema, testDatabaseUrl, type Engine } from '../../store/engines.js';

/**
 * The enclave's state store for tests: an in-memory SQLite database, or a schema of its own in the run's
 * throw-away PostgreSQL database, with the enclave's migrations applied. Closed by closeTestStates().
 */
const open: EnclaveState[] = [];

export async function openTestState(engine: Engine = 'sqlite'): Promise<EnclaveState> {
  const state = engine === 'sqlite' ? await openEnclaveState({ location: ':memory:' }) : await openEnclaveState({ location: testDatabaseUrl(), schema: freshSchema() });
  open.push(state);
  return state;
}

/** A fresh state store (sqlite by default). */
export const testStore = async (engine: Engine = 'sqlite'): Promise<Store> => (await openTestState(engine)).store;

/** A ledger on a fresh state store. */
export const testLedger = async (engine: Engine = 'sqlite'): Promise<PrivacyBudgetLedger> => new PrivacyBudgetLedger(await openTestState(engine));

export async function closeTestStates(): Promise<void> {
  for (const s of open.splice(0)) await s.close().catch(() => {});
}

/** Runs `fn` on a fresh in-memory state store and closes it (property tests open one per run). */
export async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const state = await openEnclaveState({ location: ':memory:' });
  try {
    return await fn(state.store);
  } finally {
    await state.close();
  }
}

/** 'ok', or the type of the DomainError `f` rejects with. */
export async function outcomeOf(f: () => unknown): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    if (!isDomainError(e)) throw e;
    return e.type;
  }
}
