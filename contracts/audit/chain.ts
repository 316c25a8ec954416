import { z } from 'zod';
import { canonicalJson, concatBytes, fromHex, sm3Hex, utf8 } from '../../crypto/index.js';

/**
 * The audit chain: every state change of every entity becomes one event, hash-chained with SM3.
 * Hashes are domain-separated (as RFC 6962 does for Merkle trees): a leaf is SM3(0x00 ‖ canonical
 * event), a link is SM3(0x01 ‖ previous hash ‖ leaf), so an event can never be passed off as a link
 * or the reverse. The chain starts from 32 zero bytes.
 */

export const GENESIS_HASH = '0'.repeat(64);
const LEAF = Uint8Array.of(0x00);
const LINK = Uint8Array.of(0x01);

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

export const AuditEvent = z
  .object({
    seq: z.number().int().min(1),
    id: z.string(),
    at: z.iso.datetime(),
    /** Who caused it: a user id, 'system', or 'operator:<id>'. */
    actor: z.string().min(1),
    entityType: z.string().min(1),
    entityId: z.string().min(1),
    action: z.string().min(1),
    data: z.record(z.string(), z.unknown()),
    prevHash: Hex64,
    hash: Hex64,
  })
  .strict();
export type AuditEvent = z.infer<typeof AuditEvent>;

export type AuditEventBody = Omit<AuditEvent, 'prevHash' | 'hash'>;

export function leafHash(e: AuditEventBody): string {
  const body = { seq: e.seq, id: e.id, at: e.at, actor: e.actor, entityType: e.entityType, entityId: e.entityId, action: e.action, data: e.data };
  return sm3Hex(concatBytes(LEAF, utf8(canonicalJson(body))));
}

export const linkHash = (prevHash: string, leaf: string): string => sm3Hex(concatBytes(LINK, fromHex(prevHash), fromHex(leaf)));

/** Seals an event body onto the chain after `prev` (undefined = first event). */
export function chainEvent(body: AuditEventBody, prev: Pick<AuditEvent, 'seq' | 'hash'> | undefined): AuditEvent {
  const prevHash = prev?.hash ?? GENESIS_HASH;
  return { ...body, prevHash, hash: linkHash(prevHash, leafHash(body)) };
}

export const CheckpointStatement = z
  .object({
    type: z.literal('shuyu.audit-checkpoint.v1'),
    /** The last event the checkpoint covers, and the chain hash after it. */
    seq: z.number().int().min(0),
    head: Hex64,
    at: z.iso.datetime(),
    keyFingerprint: Hex64,
    /** The checkpoint before this one (null for the first): checkpoints chain too, so none can be dropped unseen. */
    previous: z.object({ seq: z.number().int().min(0), head: Hex64 }).strict().nullable(),
  })
  .strict();
export type CheckpointStatement = z.infer<typeof CheckpointStatement>;

export const SignedCheckpoint = z
  .object({ statement: CheckpointStatement, signature: z.string(), publicKeyPem: z.string() })
  .strict();
export type SignedCheckpoint = z.infer<typeof SignedCheckpoint>;
