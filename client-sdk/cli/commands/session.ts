import type { Command } from 'commander';
import { ShuyuClient } from '../../sdk/client.js';
import { isShuyuApiError } from '../../sdk/errors.js';
import { type CommonOptions, withCommon } from '../common.js';
import { UsageError, action, print, table } from '../output.js';
import { type PinnedEnclave, type Profile, configDir, profileName, profilesPath, readProfiles, saveProfile, updateProfile, writeProfiles } from '../profiles.js';
import { DomainError, isDomainError } from '../../../contracts/errors.js';
import { BuyerClient } from '../../sdk/buyer.js';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { inputFile, outputFile, writeOutputFile } from '../common.js';
import { connection, privateKey } from '../sdk-factory.js';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile } from '../common.js';

const Bootstrap = z.object({ url: z.string(), token: z.string(), privateKeyPem: z.string() }).loose();

/**
 * The operator's first login from the server's bootstrap.json: url and token from the file, and the
 * operator's private key copied (0600) into the config directory so `shuyu admin certify` can sign.
 */
function fromBootstrap(file: string, opts: CommonOptions & { url?: string; key?: string }): { url: string; token: string; key: string } {
  const b = readJsonFile(file, Bootstrap, 'bootstrap file');
  const name = profileName(opts.profile);
  const dir = join(configDir(), 'keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = opts.key ?? join(dir, `${name}.pem`);
  if (!opts.key) {
    writeFileSync(key, b.privateKeyPem, { mode: 0o600 });
    chmodSync(key, 0o600);
  }
  return { url: opts.url ?? b.url, token: b.token, key };
}

/** `shuyu login`, `shuyu whoami`, `shuyu profiles`: who the CLI talks to, as whom. */
export function register(program: Command): void {
  withCommon(
    program
      .command('login')
      .description('check a token against a deployment and store it as a profile (0600), pinning the enclave key')
      .option('--url <url>', 'base URL, e.g. http://127.0.0.1:8080')
      .option('--token <token>', 'bearer token (the operator gives one to each user)')
      .option('--bootstrap <file>', "operator's first login: read url, token and key from DATA_DIR/bootstrap.json")
      .option('--key <file>', 'your SM2 private key PEM (reviewers sign approvals with it)')
      .option('--repin', 'accept a changed enclave signing key (only after checking it out of band)'),
  ).action(
    action(async (opts: CommonOptions & { url?: string; token?: string; key?: string; repin?: boolean; bootstrap?: string }) => {
      // a key to remember must be one: checked before the token is
      if (opts.key) privateKey({ key: inputFile(opts.key, 'private key') });
      if (opts.bootstrap) Object.assign(opts, fromBootstrap(opts.bootstrap, opts));
      if (!opts.url || !opts.token) throw new UsageError('give --url URL --token TOKEN (or --bootstrap DATA_DIR/bootstrap.json)');
      const { url, token } = opts;
      const client = new ShuyuClient({ url, token });
      const me = await client.me();
      const file = readProfiles();
      const name = profileName(opts.profile, process.env, file);
      const previous = file.profiles[name];
      let enclave: PinnedEnclave | undefined = previous?.url === url ? previous.enclave : undefined;
      let enclaveNote = 'pinned';
      try {
        // BuyerClient.pinEnclave checks the served fingerprint is the key's own and refuses a changed key
        const pinner = new BuyerClient({ url, token, pinned: opts.repin ? undefined : enclave });
        const pin = await pinner.pinEnclave();
        if (enclave?.fingerprint === pin.fingerprint) enclaveNote = 'already pinned';
        enclave = pin;
      } catch (e) {
        if (isDomainError(e) && e.type === 'enclave-key-changed') {
          throw new DomainError('enclave-key-changed', `${e.message}; check the new key with the operator, then run login again with --repin`);
        }
        if (!isShuyuApiError(e)) throw e;
        enclaveNote = `not pinned (${e.title}); it will be pinned on first use`;
      }
      const profile: Profile = { url, token, ...(enclave ? { enclave } : {}), ...(opts.key ? { keyFile: opts.key } : previous?.keyFile ? { keyFile: previous.keyFile } : {}) };
      const path = saveProfile(name, profile);
      const out = { profile: name, path, url, user: me.user, org: me.org, enclaveFingerprint: enclave?.fingerprint ?? null };
      print(opts, out, () =>
        `Logged in to ${url} as ${me.user.name} (${me.user.role}, ${me.org.name}); profile "${name}" saved in ${path}.\n` +
        `Enclave signing key ${enclave ? enclave.fingerprint : '—'}: ${enclaveNote}.`,
      );
    }),
  );

  withCommon(program.command('whoami').description('show the user and organisation behind the current profile')).action(
    action(async (opts: CommonOptions) => {
      const conn = connection(opts);
      const me = await new ShuyuClient(conn).me();
      print(opts, { profile: conn.name, url: conn.url, ...me }, () => `${me.user.name} (${me.user.role}) of ${me.org.name} at ${conn.url} [profile ${conn.name}]`);
    }),
  );

  withCommon(
    program
      .command('enclave')
      .description("the enclave signing key this profile pinned (receipts must be signed by it)")
      .option('--out <file>', 'also write the pinned public key PEM here (for openssl or shuyu verify --pub)'),
  ).action(
    action(async (opts: CommonOptions & { out?: string }) => {
      if (opts.out) outputFile(opts.out, 'public key');
      const conn = connection(opts);
      let pin = conn.profile?.enclave;
      if (!pin) {
        pin = await new BuyerClient({ url: conn.url, token: conn.token }).pinEnclave();
        updateProfile(conn.name, { enclave: pin });
      }
      if (opts.out) writeOutputFile(opts.out, pin.publicKeyPem, 'public key');
      print(opts, { profile: conn.name, ...pin, ...(opts.out ? { file: opts.out } : {}) }, () =>
        `Enclave signing key pinned by profile "${conn.name}" on ${pin.pinnedAt}:\nSM3 fingerprint ${pin.fingerprint}\n${pin.publicKeyPem.trimEnd()}${opts.out ? `\nwritten to ${opts.out}` : ''}`);
    }),
  );

  const profiles = program.command('profiles').description('list or switch stored profiles');
  withCommon(profiles.command('list', { isDefault: true }).description('list profiles (tokens are not shown)')).action(
    action(async (opts: CommonOptions) => {
      const file = readProfiles();
      const rows = Object.entries(file.profiles).map(([name, p]) => ({
        name,
        current: name === (file.current ?? 'default'),
        url: p.url,
        enclaveFingerprint: p.enclave?.fingerprint ?? null,
        keyFile: p.keyFile ?? null,
      }));
      print(opts, { path: profilesPath(), profiles: rows }, () =>
        table(rows, [
          { header: '', get: (r) => (r.current ? '*' : '') },
          { header: 'profile', get: (r) => r.name },
          { header: 'url', get: (r) => r.url },
          { header: 'enclave key', get: (r) => (r.enclaveFingerprint ? r.enclaveFingerprint.slice(0, 16) + '…' : '—') },
        ]),
      );
    }),
  );
  withCommon(profiles.command('use <name>').description('make a profile the current one')).action(
    action(async (name: string, opts: CommonOptions) => {
      const file = readProfiles();
      if (!file.profiles[name]) throw new DomainError('no-profile', `no profile named "${name}"; run shuyu login --profile ${name}`);
      file.current = name;
      writeProfiles(file);
      print(opts, { current: name }, () => `Now using profile "${name}".`);
    }),
  );
}
