/**
 * GM crypto figures (issue 2). Baselines are measured by `openssl speed` in the same run, one after
 * the other (never concurrently: 2 shared cores):
 *   sm2.sign / sm2.verify   — ops/s, baseline `openssl speed -seconds 3 sm2`
 *                             (targets: sign ≥ 0.7× OpenSSL; verify ≥ 2,000/s with the per-key table cached)
 *   sm3 / sm4-ctr           — MB/s on 16 KiB buffers, baseline `openssl speed -evp` at 16384 bytes
 *                             (targets: ≥ 400 and ≥ 100 MB/s)
 *   box.seal / box.open     — MB/s on 16 KiB, baseline = this run's SM4-CTR figure (ratio = cost of the MAC)
 */
import { createHash, randomBytes } from 'node:crypto';
import { newBoxKey, openBox, sealBox, sm2KeyPair, sm2Sign, sm2Verify, sm4Ctr } from '../enclave/crypto/index.js';
import { emit, megabytesPerSecond, note, opsPerSecond, run } from './lib.js';

async function opensslSm2(): Promise<{ sign: number; verify: number } | null> {
  try {
    const out = await run('openssl', ['speed', '-mr', '-seconds', '3', 'sm2']);
    const m = /^\+F\d+:\d+:256:CurveSM2:([\d.]+):([\d.]+)/m.exec(out);
    if (!m) throw new Error(`unexpected output: ${out.slice(-200)}`);
    return { sign: Number(m[1]), verify: Number(m[2]) };
  } catch (e) {
    note(`openssl speed sm2 unavailable: ${(e as Error).message}`);
    return null;
  }
}

async function opensslEvp(alg: string): Promise<number | null> {
  try {
    const out = await run('openssl', ['speed', '-mr', '-seconds', '1', '-bytes', '16384', '-evp', alg]);
    const m = /^\+F:\d+:[^:]+:([\d.]+)/m.exec(out);
    if (!m) throw new Error(`unexpected output: ${out.slice(-200)}`);
    return Number(m[1]) / 1e6;
  } catch (e) {
    note(`openssl speed -evp ${alg} unavailable: ${(e as Error).message}`);
    return null;
  }
}

export default async function cryptoBench(): Promise<void> {
  const ossl = await opensslSm2();

  const signer = sm2KeyPair(); // also builds the base-point table
  const msg = new Uint8Array(randomBytes(256));
  const sign = opsPerSecond(() => sm2Sign(signer.privateKey, msg), 3000, 300);
  emit({ name: 'sm2.sign', value: sign, unit: 'ops/s', baseline: ossl?.sign ?? null });

  const sig = sm2Sign(signer.privateKey, msg);
  sm2Verify(signer.publicKey, msg, sig); // first use of the key
  sm2Verify(signer.publicKey, msg, sig); // second use builds its cached table
  const verify = opsPerSecond(() => sm2Verify(signer.publicKey, msg, sig), 3000, 300);
  emit({ name: 'sm2.verify', value: verify, unit: 'ops/s', baseline: ossl?.verify ?? null });

  const buf = new Uint8Array(randomBytes(16384));
  const sm3Native = await opensslEvp('sm3');
  emit({ name: 'sm3', value: megabytesPerSecond(buf.length, () => createHash('sm3').update(buf).digest()), unit: 'MB/s', baseline: sm3Native });

  const sm4Native = await opensslEvp('sm4-ctr');
  const key = new Uint8Array(randomBytes(16));
  const iv = new Uint8Array(randomBytes(16));
  const sm4 = megabytesPerSecond(buf.length, () => sm4Ctr(key, iv, buf));
  emit({ name: 'sm4-ctr', value: sm4, unit: 'MB/s', baseline: sm4Native });

  const boxKey = newBoxKey();
  emit({ name: 'box.seal', value: megabytesPerSecond(buf.length, () => sealBox(boxKey, buf)), unit: 'MB/s', baseline: sm4 });
  const box = sealBox(boxKey, buf);
  emit({ name: 'box.open', value: megabytesPerSecond(buf.length, () => openBox(boxKey, box)), unit: 'MB/s', baseline: sm4 });
}
