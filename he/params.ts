/**
 * The BFV parameter sets Shuyu knows, as plain data (no node-seal import, so the server, the SDK and the
 * manifest schema can name them cheaply). The adapter (he/seal.ts) builds the SEAL context from
 * these and checks that SEAL agrees (e.g. on the plain modulus prime).
 *
 * Why N = 4096 with a 40-bit plain modulus: a group is always made of WHOLE partitions (rows are
 * partitioned by dimension codes at sealing time, see layout.ts), so the server never multiplies, and the
 * only noise spent is additions (~log2 #ciphertexts bits) plus, for v1 layouts, one rotate-and-sum (~10 bits). N = 4096
 * leaves ~25 bits of fresh budget at t ≈ 2^40 — enough for that, and 3× cheaper than N = 8192 in time and
 * size (≈ 21.6 bytes per value). t ≈ 2^40 keeps 1M-row sums of 16-bit values exact (notes).
 */
export interface BfvParams {
  id: string;
  polyModulusDegree: number;
  coeffModulusBits: number[];
  plainModulusBits: number;
  /** The batching prime SEAL picks for plainModulusBits (checked by the adapter at load). */
  plainModulus: bigint;
  /** Rotation steps of the Galois keys: powers of two for rotate-and-sum along a row, 0 = swap rows. */
  galoisSteps: number[];
}

const pow2Steps = (n: number): number[] => {
  const s: number[] = [];
  for (let k = 1; k < n / 2; k *= 2) s.push(k);
  s.push(0);
  return s;
};

export const BFV_N4096_T40: BfvParams = {
  id: 'bfv-n4096-t40-v1',
  polyModulusDegree: 4096,
  coeffModulusBits: [36, 36, 37],
  plainModulusBits: 40,
  plainModulus: 1099511480321n,
  galoisSteps: pow2Steps(4096),
};

export const BFV_PARAMS: Record<string, BfvParams> = { [BFV_N4096_T40.id]: BFV_N4096_T40 };
export const DEFAULT_BFV_PARAMS = BFV_N4096_T40;

/** Largest magnitude an aggregate may reach and still decode exactly (centred residues mod t). */
export const maxExactMagnitude = (p: BfvParams): bigint => (p.plainModulus - 1n) / 2n;

/** Upper bound on a serialized ciphertext (SEAL zstd, or the adapter's packed form) of these parameters; anything larger is refused before load. */
export const maxCiphertextBytes = (p: BfvParams): number =>
  // 2 polynomials × N coefficients × data-level primes × 8 bytes, plus SEAL's header and zstd framing slack.
  2 * p.polyModulusDegree * (p.coeffModulusBits.length - 1) * 8 + 4096;
