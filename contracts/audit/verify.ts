import { canonicalJson, fromB64, sm2Fingerprint, sm2PublicKeyFromPem, sm2Verify, utf8 } from '../../crypto/index.js';
import { AuditEvent, GENESIS_HASH, leafHash, linkHash, SignedCheckpoint } from './chain.js';

export type AuditVerification =
  | { ok: true; events: number; head: string; checkpoints: number }
  | { ok: false; reason: string; seq?: number };

export interface AuditLogSnapshot {
  events: unknown[];
  checkpoints: unknown[];
}

/**
 * Verifies an audit log from its first event: every seq in order without gaps, every prevHash the
 * previous hash, every hash recomputed from the event's content; every checkpoint signed by the
 * platform key (the caller supplies it — never trust the key a checkpoint carries) and matching
 * the chain at its seq. A monitor that remembers the latest checkpoint it saw passes it as
 * `trusted`: a log rolled back to an older state (events and newer checkpoints cut off) no longer
 * contains it and fails. Limit: events after the latest checkpoint are only hash-chained, not yet
 * signed — checkpoint often (the server does it periodically) to keep that window short.
 * Never throws on bad input.
 */
export function verifyAuditLog(
  log: AuditLogSnapshot,
  platformPublicKeyPem: string,
  trusted?: unknown,
): AuditVerification {
  try {
    return verify(log, platformPublicKeyPem, trusted);
  } catch (e) {
    return { ok: false, reason: `unreadable log: ${(e as Error).message}` };
  }
}

function checkSignature(cp: SignedCheckpoint, publicKey: Uint8Array, fingerprint: string): string | undefined {
  if (cp.statement.keyFingerprint !== fingerprint) return 'checkpoint names another key';
  let sig: Uint8Array;
  try {
    sig = fromB64(cp.signature);
  } catch {
    return 'checkpoint signature is not base64';
  }
  return sm2Verify(publicKey, utf8(canonicalJson(cp.statement)), sig) ? undefined : 'checkpoint signature does not verify';
}

function verify(log: AuditLogSnapshot, platformPublicKeyPem: string, trusted: unknown): AuditVerification {
  const publicKey = sm2PublicKeyFromPem(platformPublicKeyPem);
  const fingerprint = sm2Fingerprint(publicKey);
  if (!Array.isArray(log.events) || !Array.isArray(log.checkpoints)) return { ok: false, reason: 'events and checkpoints must be arrays' };

  const heads: string[] = [GENESIS_HASH]; // heads[i] = chain hash after event i
  for (let i = 0; i < log.events.length; i++) {
    const parsed = AuditEvent.safeParse(log.events[i]);
    if (!parsed.success) return { ok: false, reason: `event #${i + 1} is malformed`, seq: i + 1 };
    const e = parsed.data;
    if (e.seq !== i + 1) return { ok: false, reason: `expected seq ${i + 1}, found ${e.seq} (deleted, inserted or reordered event)`, seq: i + 1 };
    if (e.prevHash !== heads[i]) return { ok: false, reason: `event ${e.seq} does not link to the previous event`, seq: e.seq };
    if (linkHash(e.prevHash, leafHash(e)) !== e.hash) return { ok: false, reason: `event ${e.seq} was changed (hash mismatch)`, seq: e.seq };
    heads.push(e.hash);
  }

  let prevSeq = -1;
  let prevAt = '';
  let prevCp: { seq: number; head: string } | null = null;
  for (const raw of log.checkpoints) {
    const parsed = SignedCheckpoint.safeParse(raw);
    if (!parsed.success) return { ok: false, reason: 'a checkpoint is malformed' };
    const cp = parsed.data;
    const { seq, head, at } = cp.statement;
    if (seq <= prevSeq || at < prevAt) return { ok: false, reason: `checkpoints out of order at seq ${seq}`, seq };
    const p = cp.statement.previous;
    if ((p === null) !== (prevCp === null) || (p && prevCp && (p.seq !== prevCp.seq || p.head !== prevCp.head))) {
      return { ok: false, reason: `the checkpoint at seq ${seq} does not follow the one before it (a checkpoint was removed or inserted)`, seq };
    }
    if (seq >= heads.length) return { ok: false, reason: `checkpoint at seq ${seq} is beyond the end of the log (truncated)`, seq };
    if (heads[seq] !== head) return { ok: false, reason: `the log at seq ${seq} differs from its signed checkpoint`, seq };
    prevSeq = seq;
    prevAt = at;
    prevCp = { seq, head };
  }
  // Signatures last: the structural checks above are cheap and catch most tampering first.
  for (const raw of log.checkpoints) {
    const cp = raw as SignedCheckpoint;
    const bad = checkSignature(cp, publicKey, fingerprint);
    if (bad) return { ok: false, reason: bad, seq: cp.statement.seq };
  }

  if (trusted !== undefined) {
    const parsed = SignedCheckpoint.safeParse(trusted);
    if (!parsed.success) return { ok: false, reason: 'the trusted checkpoint is malformed' };
    const t = parsed.data;
    if (t.statement.seq >= heads.length) {
      return { ok: false, reason: `the log ends at seq ${heads.length - 1}, before the trusted checkpoint at seq ${t.statement.seq} (rolled back)`, seq: t.statement.seq };
    }
    if (heads[t.statement.seq] !== t.statement.head) {
      return { ok: false, reason: `the log at seq ${t.statement.seq} differs from the trusted checkpoint (rewritten)`, seq: t.statement.seq };
    }
    const latest = log.checkpoints.length ? (log.checkpoints[log.checkpoints.length - 1] as SignedCheckpoint) : undefined;
    if (!latest || latest.statement.seq < t.statement.seq) {
      return { ok: false, reason: 'the log lacks checkpoints it once had (rolled back to an older checkpoint)', seq: t.statement.seq };
    }
    const bad = checkSignature(t, publicKey, fingerprint);
    if (bad) return { ok: false, reason: `trusted checkpoint: ${bad}` };
  }
  return { ok: true, events: log.events.length, head: heads[heads.length - 1]!, checkpoints: log.checkpoints.length };
}
