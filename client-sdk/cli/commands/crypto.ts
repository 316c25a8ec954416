/**
 * GM crypto utilities for interop and debugging:
 *   shuyu sm2 keygen --out DIR
 *   shuyu sm2 sign   --key KEY.pem --in FILE --out SIG.der [--id ID]
 *   shuyu sm2 verify --pub PUB.pem --in FILE --sig SIG.der [--id ID]   (exit 0 valid, 1 invalid)
 *   shuyu sm3 FILE                                                    ("-" reads stdin)
 * Files are exactly what OpenSSL 3 reads and writes (PEM keys, DER signatures, default ID
 * 1234567812345678), so every step can be checked with `openssl pkeyutl … -pkeyopt distid:…`.
 */
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  createSm3,
  CryptoError,
  SM2_DEFAULT_ID,
  sm2Fingerprint,
  sm2KeyPair,
  sm2PrivateKeyFromPem,
  sm2PrivateKeyToPem,
  sm2PublicFromPrivate,
  sm2PublicKeyFromPem,
  sm2PublicKeyToPem,
  sm2Sign,
  sm2Verify,
} from '../../../crypto/index.js';
import { action, EXIT_FAILED, print, UsageError } from '../output.js';

interface JsonOpt {
  json?: boolean;
}

function readInput(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path === '-' ? 0 : path));
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** A key file that does not parse is a usage problem (wrong file), not a failed check. */
function readKey<T>(path: string, what: string, parse: (pem: string) => T): T {
  const pem = Buffer.from(readInput(path, what)).toString('utf8');
  try {
    return parse(pem);
  } catch (e) {
    if (e instanceof CryptoError) throw new UsageError(`${what} ${path} is not an SM2 ${what} PEM (${e.code}: ${e.message})`);
    throw e;
  }
}

function writeOutput(path: string, data: Uint8Array | string, mode?: number): void {
  try {
    writeFileSync(path, data, mode === undefined ? {} : { mode });
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function register(program: Command): void {
  const sm2 = program.command('sm2').description('SM2 keys and signatures (GB/T 32918), interoperable with OpenSSL 3');

  sm2
    .command('keygen')
    .description('generate an SM2 key pair: DIR/private.pem (PKCS#8, mode 0600) and DIR/public.pem (SPKI)')
    .requiredOption('--out <dir>', 'directory to write the keys to (created if missing)')
    .option('--force', 'overwrite existing key files')
    .option('--json', 'print a JSON document instead of text')
    .action(
      action(async (opts: { out: string; force?: boolean } & JsonOpt) => {
        const privPath = join(opts.out, 'private.pem');
        const pubPath = join(opts.out, 'public.pem');
        if (!opts.force && (existsSync(privPath) || existsSync(pubPath))) {
          throw new UsageError(`${opts.out} already holds a key; use --force to overwrite it`);
        }
        try {
          mkdirSync(opts.out, { recursive: true });
        } catch (e) {
          throw new UsageError(`cannot create ${opts.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        const kp = sm2KeyPair();
        writeOutput(privPath, sm2PrivateKeyToPem(kp.privateKey), 0o600);
        writeOutput(pubPath, sm2PublicKeyToPem(kp.publicKey), 0o644);
        const fingerprint = sm2Fingerprint(kp.publicKey);
        print(opts, { privateKey: privPath, publicKey: pubPath, fingerprint }, () => `wrote ${privPath} (0600) and ${pubPath}\nfingerprint (SM3 of SPKI): ${fingerprint}`);
      }),
    );

  sm2
    .command('sign')
    .description('sign FILE with SM2-SM3 (signature over SM3(ZA ‖ M)), writing a DER signature')
    .requiredOption('--key <key.pem>', 'SM2 private key (PKCS#8 PEM)')
    .requiredOption('--in <file>', 'file to sign ("-" = stdin)')
    .requiredOption('--out <sig.der>', 'where to write the DER signature')
    .option('--id <id>', 'SM2 user ID', SM2_DEFAULT_ID)
    .option('--json', 'print a JSON document instead of text')
    .action(
      action(async (opts: { key: string; in: string; out: string; id: string } & JsonOpt) => {
        const d = readKey(opts.key, 'private key', sm2PrivateKeyFromPem);
        const sig = sm2Sign(d, readInput(opts.in, 'input'), { id: opts.id });
        writeOutput(opts.out, sig);
        const fingerprint = sm2Fingerprint(sm2PublicFromPrivate(d));
        print(opts, { signature: opts.out, bytes: sig.length, id: opts.id, fingerprint }, () => `wrote ${opts.out} (${sig.length} bytes DER, ID ${JSON.stringify(opts.id)})`);
      }),
    );

  sm2
    .command('verify')
    .description('verify a DER SM2-SM3 signature of FILE; exit 0 valid, 1 invalid')
    .requiredOption('--pub <pub.pem>', 'SM2 public key (SPKI PEM)')
    .requiredOption('--in <file>', 'signed file ("-" = stdin)')
    .requiredOption('--sig <sig.der>', 'DER signature')
    .option('--id <id>', 'SM2 user ID', SM2_DEFAULT_ID)
    .option('--json', 'print a JSON document instead of text')
    .action(
      action(async (opts: { pub: string; in: string; sig: string; id: string } & JsonOpt) => {
        const pub = readKey(opts.pub, 'public key', sm2PublicKeyFromPem);
        const sig = readInput(opts.sig, 'signature');
        const valid = sm2Verify(pub, readInput(opts.in, 'input'), sig, { id: opts.id });
        print(opts, { valid, id: opts.id, fingerprint: sm2Fingerprint(pub) }, () => (valid ? 'Signature OK' : 'Signature INVALID'));
        return valid ? 0 : EXIT_FAILED;
      }),
    );

  program
    .command('sm3')
    .description('SM3 digest (GB/T 32905) of FILE as hex ("-" = stdin)')
    .argument('<file>', 'file to hash')
    .option('--json', 'print a JSON document instead of text')
    .action(
      action(async (file: string, opts: JsonOpt) => {
        const h = createSm3();
        try {
          for await (const chunk of file === '-' ? process.stdin : createReadStream(file)) h.update(chunk as Buffer);
        } catch (e) {
          throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        const digest = h.digest('hex');
        print(opts, { file, sm3: digest }, () => digest);
      }),
    );
}
