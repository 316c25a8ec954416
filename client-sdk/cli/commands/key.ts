import { resolve } from 'node:path';
import type { Command } from 'commander';
import { sm2PublicFromPrivate, sm2PublicKeyToPem } from '../../../crypto/index.js';
import { ShuyuClient } from '../../sdk/client.js';
import { type CommonOptions, withCommon } from '../common.js';
import { action, print } from '../output.js';
import { updateProfile } from '../profiles.js';
import { connection, privateKey } from '../sdk-factory.js';

/**
 * `shuyu key register --key PRIVATE.pem`: registers the public half of your SM2 key with the server
 * (reviewers sign approvals with it; the operator then certifies it) and remembers the key file in
 * the profile. The private key is read locally and never sent.
 */
export function register(program: Command): void {
  const key = program.command('key').description('your SM2 key (make one with: shuyu sm2 keygen --out DIR)');
  withCommon(key.command('register').description('register your SM2 public key with the server').requiredOption('--key <file>', 'your SM2 private key PEM')).action(
    action(async (opts: CommonOptions & { key: string }) => {
      const pub = sm2PublicKeyToPem(sm2PublicFromPrivate(privateKey(opts)));
      const conn = connection(opts);
      const r = await new ShuyuClient(conn).registerKey(pub);
      updateProfile(conn.name, { keyFile: resolve(opts.key) });
      print(opts, { ...r, keyFile: resolve(opts.key) }, () => `Registered key ${r.keyFingerprint} for user ${r.userId}; profile "${conn.name}" will sign with ${resolve(opts.key)}.`);
    }),
  );
}
