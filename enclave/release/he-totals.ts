import { DomainError } from '../../contracts/errors.js';
import { sm3Hex } from '../../crypto/index.js';
import type { EncryptedAggregate } from '../../formats/encrypted-aggregate.js';
import type { BundleManifest } from '../../formats/manifest.js';
import { blocksFor, slotOf, type AggregatePlan } from '../../he/layout.js';
import type { HeDecryptor } from '../../he/seal.js';

/**
 * The group totals of an HE aggregate, for both bundle layouts (he/layout.ts):
 * - v1: one rotate-and-summed ciphertext per group and column; the decryptor returns its ONE value and refuses
 *   anything whose slots differ.
 * - v2 (packed): each touched block is decrypted once and the planned partitions' slots are added per group and
 *   column here; no other slot leaves this function. A block the server passed on unchanged (one ciphertext in
 *   the manifest) must be exactly the sealed blob, by its SM3.
 */

const refuse = (message: string) => new DomainError('release-refused', message);

/** Refuse an encrypted aggregate that does not have exactly the planned groups and ciphertexts. */
export function checkEncryptedShape(manifest: BundleManifest, plan: AggregatePlan, enc: EncryptedAggregate): void {
  const packed = !!manifest.layout.packing;
  if (enc.groups.length !== plan.groups.length) throw refuse(`expected ${plan.groups.length} groups, got ${enc.groups.length}`);
  plan.groups.forEach((g, i) => {
    const e = enc.groups[i]!;
    if (e.key.length !== g.key.length || e.key.some((k, j) => k !== g.key[j])) throw refuse(`group ${i} has an unexpected key`);
    const want = packed || g.partitions.length === 0 ? [] : [...plan.columns].sort();
    const got = Object.keys(e.columns).sort();
    if (want.length !== got.length || want.some((c, j) => c !== got[j])) throw refuse(`group ${i} does not carry exactly the columns ${want.join(', ') || '(none)'}`);
  });
  if (!packed) {
    if (enc.blocks !== undefined) throw refuse('packed blocks given for a bundle of one ciphertext per partition');
    return;
  }
  const want = blocksFor(manifest.layout, plan);
  const got = (enc.blocks ?? []).map((b) => b.block);
  if (want.length !== got.length || want.some((b, i) => b !== got[i])) throw refuse(`expected the blocks ${want.join(', ') || '(none)'}, got ${got.join(', ') || '(none)'}`);
}

/** Decrypt the group totals (column id → exact total) in the plan's group order; checkEncryptedShape first. */
export function decryptGroupTotals(manifest: BundleManifest, plan: AggregatePlan, enc: EncryptedAggregate, decryptor: HeDecryptor): Record<string, bigint>[] {
  if (!manifest.layout.packing) {
    return enc.groups.map((e, i) => {
      const t: Record<string, bigint> = {};
      for (const [col, b64] of Object.entries(e.columns)) t[col] = decryptor.decryptAggregate(ciphertextBytes(b64, `group ${i} column ${col}`), `group ${i} column ${col}`);
      return t;
    });
  }
  const layout = manifest.layout;
  const t = decryptor.plainModulus;
  const sealed = new Map<number, string[]>();
  for (const c of manifest.chunks) if (c.kind === 'he' && c.block !== undefined) (sealed.get(c.block) ?? sealed.set(c.block, []).get(c.block)!).push(c.sm3);
  const colIndex = plan.columns.map((id) => layout.columns.findIndex((c) => c.id === id));
  if (colIndex.some((i) => i < 0)) throw new DomainError('he-internal', 'a planned column is not in the layout');
  const totals = plan.groups.map(() => new Array<bigint>(plan.columns.length).fill(0n));
  // partitions of each block, with the group they belong to
  const members = new Map<number, { p: number; g: number }[]>();
  plan.groups.forEach((g, gi) => {
    for (const p of g.partitions) {
      const b = slotOf(layout, p, 0).block;
      (members.get(b) ?? members.set(b, []).get(b)!).push({ p, g: gi });
    }
  });
  for (const { block, ciphertext } of enc.blocks ?? []) {
    const what = `block ${block}`;
    const bytes = ciphertextBytes(ciphertext, what);
    const names = sealed.get(block) ?? [];
    if (names.length === 1 && sm3Hex(bytes) !== names[0]) throw new DomainError('he-ciphertext-invalid', `${what} is not the ciphertext the bundle sealed`);
    const slots = decryptor.decryptSlots(bytes, what);
    try {
      for (const { p, g } of members.get(block) ?? []) {
        const row = totals[g]!;
        colIndex.forEach((c, j) => {
          row[j]! += slots[slotOf(layout, p, c).slot]!;
        });
      }
    } finally {
      slots.fill(0n);
    }
  }
  // each slot is a centred residue mod t; the group total was checked to fit the exact range (checkOverflow)
  const half = (t - 1n) / 2n;
  return totals.map((row, gi) => {
    const out: Record<string, bigint> = {};
    if (plan.groups[gi]!.partitions.length === 0) return out;
    plan.columns.forEach((id, j) => {
      let v = row[j]! % t;
      if (v > half) v -= t;
      else if (v < -half) v += t;
      out[id] = v;
    });
    return out;
  });
}

/**
 * A ciphertext's bytes from its base64; refused when the text is not whole base64 (its decoded length gives
 * that away). SEAL's checked load then judges the bytes.
 */
function ciphertextBytes(b64: string, what: string): Uint8Array {
  const bytes = Buffer.from(b64, 'base64');
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  if (b64.length === 0 || b64.length % 4 !== 0 || bytes.length !== (b64.length / 4) * 3 - pad) throw new DomainError('he-ciphertext-invalid', `${what}: not base64`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
