/** `shuyu sm2 …` and `shuyu sm3` spawned as a user runs them, checked against the openssl CLI. */
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { sm2Fingerprint, sm2PublicKeyFromPem } from '../../crypto/index.js';
import { openssl, opensslOk, tempDir } from '../crypto/openssl.js';

const BIN = join(resolve(import.meta.dirname, '../..'), 'bin/shuyu.js');

function shuyu(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('cli: shuyu sm2 / sm3 (OpenSSL interop)', function () {
  this.timeout(60000);
  const tmp = tempDir('shuyu-cli-crypto-');
  const p = tmp.path;
  after(() => tmp.cleanup());
  const ID = '1234567812345678';

  before(async () => {
    writeFileSync(p('msg'), '数域 receipt payload\n');
    const r = await shuyu(['sm2', 'keygen', '--out', p('keys'), '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout);
    expect(out.fingerprint).to.equal(sm2Fingerprint(sm2PublicKeyFromPem(readFileSync(p('keys/public.pem'), 'utf8'))));
  });

  it('keygen writes private.pem 0600 and public.pem that openssl reads as the same SM2 key', async () => {
    expect(statSync(p('keys/private.pem')).mode & 0o777).to.equal(0o600);
    const derived = (await opensslOk(['pkey', '-in', p('keys/private.pem'), '-pubout'])).toString();
    expect(derived).to.equal(readFileSync(p('keys/public.pem'), 'utf8'));
    const again = await shuyu(['sm2', 'keygen', '--out', p('keys')]);
    expect(again.code).to.equal(2); // refuses to overwrite a key without --force
  });

  it('shuyu signs → openssl verifies (and refuses a wrong ID)', async () => {
    const r = await shuyu(['sm2', 'sign', '--key', p('keys/private.pem'), '--in', p('msg'), '--out', p('msg.sig')]);
    expect(r.code, r.stderr).to.equal(0);
    const v = (id: string) => openssl(['pkeyutl', '-verify', '-pubin', '-inkey', p('keys/public.pem'), '-rawin', '-digest', 'sm3', '-pkeyopt', `distid:${id}`, '-in', p('msg'), '-sigfile', p('msg.sig')]);
    expect((await v(ID)).code).to.equal(0);
    expect((await v('someone-else')).code).to.not.equal(0);
  });

  it('openssl signs → shuyu verify exits 0; wrong ID or tampered file exits 1', async () => {
    await opensslOk(['pkeyutl', '-sign', '-inkey', p('keys/private.pem'), '-rawin', '-digest', 'sm3', '-pkeyopt', `distid:${ID}`, '-in', p('msg'), '-out', p('ossl.sig')]);
    writeFileSync(p('msg2'), 'another payload\n');
    const [ok, wrongId, tampered] = await Promise.all([
      shuyu(['sm2', 'verify', '--pub', p('keys/public.pem'), '--in', p('msg'), '--sig', p('ossl.sig')]),
      shuyu(['sm2', 'verify', '--pub', p('keys/public.pem'), '--in', p('msg'), '--sig', p('ossl.sig'), '--id', 'someone-else']),
      shuyu(['sm2', 'verify', '--pub', p('keys/public.pem'), '--in', p('msg2'), '--sig', p('ossl.sig'), '--json']),
    ]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/Signature OK/);
    expect(wrongId.code).to.equal(1);
    expect(tampered.code).to.equal(1);
    expect(JSON.parse(tampered.stdout).valid).to.equal(false);
  });

  it('shuyu sm3 prints the same digest as openssl dgst -sm3', async () => {
    const [ours, theirs] = await Promise.all([shuyu(['sm3', p('msg')]), opensslOk(['dgst', '-sm3', '-r', p('msg')])]);
    expect(ours.code).to.equal(0);
    expect(ours.stdout.trim()).to.equal(theirs.toString().split(' ')[0]).and.to.match(/^[0-9a-f]{64}$/);
  });

  it('usage errors exit 2: missing option, unknown command, unreadable or wrong key file', async () => {
    const results = await Promise.all([
      shuyu(['sm2', 'verify', '--pub', p('keys/public.pem'), '--in', p('msg')]),
      shuyu(['sm2', 'frobnicate']),
      shuyu(['sm2', 'sign', '--key', p('keys/public.pem'), '--in', p('msg'), '--out', p('x.sig')]),
      shuyu(['sm3', p('does-not-exist')]),
    ]);
    for (const r of results) expect(r.code, r.stderr).to.equal(2);
  });
});
