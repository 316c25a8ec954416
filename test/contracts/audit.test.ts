import { expect } from 'chai';
import fc from 'fast-check';
import { type AuditEvent, chainEvent, GENESIS_HASH, leafHash, linkHash, type SignedCheckpoint } from '../../contracts/audit/chain.js';
import { AuditLog } from '../../contracts/audit/log.js';
import { verifyAuditLog } from '../../contracts/audit/verify.js';
import { freshStore, testClock, testSigner } from './helpers.js';
import { onEngines } from '../store/engines.js';

const signer = testSigner();

/** A real log in SQLite: 60 events, checkpoints after 20, 40 and 60. */
async function buildLog() {
  const { store } = await freshStore();
  const clock = testClock();
  const log = new AuditLog(store.audit, clock);
  for (let i = 1; i <= 60; i++) {
    clock.advance(1000);
    await store.transaction(() => log.append({ actor: `user-${i % 7}`, entityType: i % 3 ? 'trade' : 'offer', entityId: `e-${i % 11}`, action: `act-${i % 5}`, data: { n: i, note: `event ${i}` } }));
    if (i % 20 === 0) await log.checkpoint(signer);
  }
  return { events: await store.audit.events({}), checkpoints: await store.audit.checkpoints() };
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** Renumbers and re-hashes from the start: what an attacker without the platform key can do. */
function rechain(events: AuditEvent[]): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (const [i, e] of events.entries()) out.push(chainEvent({ ...e, seq: i + 1 }, out[i - 1]));
  return out;
}

type Tamper = (events: AuditEvent[], cps: SignedCheckpoint[], r: () => number) => { events: AuditEvent[]; checkpoints: SignedCheckpoint[]; label: string };

const pick = (n: number, r: () => number) => Math.floor(r() * n);
const FIELDS = ['actor', 'entityType', 'entityId', 'action', 'at', 'data', 'hash', 'prevHash', 'id'] as const;

/** `contentOnly`: leave the hash fields alone (a re-chaining attacker recomputes them anyway). */
function mutateField(e: AuditEvent, r: () => number, contentOnly = false): AuditEvent {
  const fields = contentOnly ? FIELDS.filter((f) => f !== 'hash' && f !== 'prevHash') : FIELDS;
  const field = fields[pick(fields.length, r)]!;
  const x = clone(e);
  switch (field) {
    case 'data':
      x.data = { ...x.data, n: (x.data.n as number) + 1 + pick(5, r) };
      break;
    case 'at':
      x.at = new Date(Date.parse(x.at) + 1 + pick(10_000, r)).toISOString();
      break;
    case 'hash':
    case 'prevHash': {
      const pos = pick(64, r);
      const c = x[field][pos] === 'a' ? 'b' : 'a';
      x[field] = x[field].slice(0, pos) + c + x[field].slice(pos + 1);
      break;
    }
    default:
      x[field] = `${x[field]}-forged`;
  }
  return x;
}

const TAMPERS: Tamper[] = [
  (ev, cps, r) => {
    const i = pick(ev.length, r);
    const events = clone(ev);
    events[i] = mutateField(events[i]!, r);
    return { events, checkpoints: cps, label: 'change' };
  },
  (ev, cps, r) => {
    const i = pick(ev.length, r);
    const events = clone(ev);
    events[i] = mutateField(events[i]!, r, true);
    return { events: rechain(events), checkpoints: cps, label: 'change+rechain' };
  },
  (ev, cps, r) => {
    const events = clone(ev);
    events.splice(pick(ev.length, r), 1);
    return { events, checkpoints: cps, label: 'delete' };
  },
  (ev, cps, r) => {
    const events = clone(ev);
    events.splice(pick(ev.length, r), 1);
    return { events: rechain(events), checkpoints: cps, label: 'delete+rechain' };
  },
  (ev, cps, r) => {
    const i = pick(ev.length, r);
    let j = pick(ev.length - 1, r);
    if (j >= i) j++;
    const events = clone(ev);
    [events[i], events[j]] = [events[j]!, events[i]!];
    return { events: r() < 0.5 ? events : rechain(events), checkpoints: cps, label: 'reorder' };
  },
  (ev, cps, r) => {
    // Inserted BETWEEN events: an event appended after the latest checkpoint is indistinguishable from
    // a real new one until the next checkpoint signs it (documented in contracts/audit/verify.ts).
    const i = pick(ev.length, r);
    const events = clone(ev);
    const forged = { ...clone(ev[pick(ev.length, r)]!), id: `forged-${i}`, data: { forged: true } };
    events.splice(i, 0, forged);
    return { events: r() < 0.5 ? events : rechain(events), checkpoints: cps, label: 'insert' };
  },
  (ev, cps, r) => {
    // Roll back to an older checkpoint: cut the events after it and the newer checkpoints.
    const k = pick(cps.length - 1, r);
    const seq = cps[k]!.statement.seq;
    return { events: clone(ev.slice(0, seq)), checkpoints: cps.slice(0, k + 1), label: 'truncate-to-old-checkpoint' };
  },
  (ev, cps, r) => {
    // Cut the tail events only, leaving checkpoints that now point past the end.
    return { events: clone(ev.slice(0, ev.length - 1 - pick(10, r))), checkpoints: cps, label: 'truncate-tail' };
  },
  (ev, cps, r) => {
    const c = clone(cps);
    const k = pick(c.length, r);
    if (r() < 0.5) {
      const other = ev[pick(ev.length, r)]!.hash;
      c[k]!.statement.head = other === c[k]!.statement.head ? GENESIS_HASH : other;
    }
    else c[k]!.statement.seq = c[k]!.statement.seq - 1 - pick(5, r);
    return { events: ev, checkpoints: c, label: 'forge-checkpoint' };
  },
  (ev, cps, r) => {
    const c = clone(cps);
    c.splice(pick(c.length, r), 1);
    return { events: ev, checkpoints: c, label: 'drop-checkpoint' };
  },
];

onEngines('contracts/audit: SM3 hash chain with signed checkpoints', () => {
  let events: AuditEvent[];
  let checkpoints: SignedCheckpoint[];
  before(async () => {
    ({ events, checkpoints } = await buildLog());
  });

  it('hashes are domain-separated: leaf = SM3(0x00 ‖ event), link = SM3(0x01 ‖ prev ‖ leaf), from a zero genesis', () => {
    const e = events[0]!;
    expect(e.prevHash).to.equal(GENESIS_HASH);
    expect(e.hash).to.equal(linkHash(GENESIS_HASH, leafHash(e)));
    expect(leafHash(e)).to.not.equal(e.hash);
    expect(events[1]!.prevHash).to.equal(e.hash);
  });

  it('an untouched log verifies, with and without the trusted latest checkpoint', () => {
    const trusted = checkpoints[checkpoints.length - 1];
    expect(verifyAuditLog({ events, checkpoints }, signer.publicKeyPem)).to.deep.include({ ok: true, events: 60, checkpoints: 3 });
    expect(verifyAuditLog({ events, checkpoints }, signer.publicKeyPem, trusted)).to.deep.include({ ok: true });
  });

  it('detects 100% of 1,000 random tamperings (change, delete, reorder, insert, truncate to an old checkpoint, forged checkpoints)', function () {
    this.timeout(60_000);
    const trusted = checkpoints[checkpoints.length - 1];
    const counts = new Map<string, number>();
    let runs = 0;
    fc.assert(
      fc.property(fc.nat(TAMPERS.length - 1), fc.integer(), (t, seed) => {
        let s = seed >>> 0 || 1;
        const r = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32); // deterministic per case
        const tampered = TAMPERS[t]!(events, checkpoints, r);
        runs++;
        counts.set(tampered.label, (counts.get(tampered.label) ?? 0) + 1);
        const v = verifyAuditLog(tampered, signer.publicKeyPem, trusted);
        if (v.ok) throw new Error(`undetected ${tampered.label}`);
        return true;
      }),
      { numRuns: 1000 },
    );
    expect(runs).to.equal(1000);
    expect([...counts.keys()].length).to.equal(TAMPERS.length); // every kind was exercised
  });

  it('a rollback to an older checkpoint passes alone and is caught only by the trusted checkpoint — which is why monitors keep one', () => {
    const rolled = { events: events.slice(0, 20), checkpoints: checkpoints.slice(0, 1) };
    expect(verifyAuditLog(rolled, signer.publicKeyPem).ok).to.equal(true);
    const v = verifyAuditLog(rolled, signer.publicKeyPem, checkpoints[2]);
    expect(v.ok).to.equal(false);
    expect((v as { reason: string }).reason).to.match(/rolled back/);
  });

  it('refuses checkpoints signed by another key, and never throws on garbage', () => {
    const other = testSigner();
    expect(verifyAuditLog({ events, checkpoints }, other.publicKeyPem).ok).to.equal(false);
    for (const junk of [{ events: 'x', checkpoints: [] }, { events: [null], checkpoints: [] }, { events, checkpoints: [{}] }]) {
      expect(verifyAuditLog(junk as never, signer.publicKeyPem).ok).to.equal(false);
    }
    expect(verifyAuditLog({ events, checkpoints }, 'not a pem').ok).to.equal(false);
    expect(verifyAuditLog({ events, checkpoints }, signer.publicKeyPem, { statement: 1 }).ok).to.equal(false);
  });

  it('checkpoint() is idempotent at an unchanged head', async () => {
    const { store } = await freshStore();
    const log = new AuditLog(store.audit, testClock());
    await store.transaction(() => log.append({ actor: 'a', entityType: 't', entityId: '1', action: 'x' }));
    const a = await log.checkpoint(signer);
    const b = await log.checkpoint(signer);
    expect(b).to.deep.equal(a);
    expect((await store.audit.checkpoints()).length).to.equal(1);
  });
});
