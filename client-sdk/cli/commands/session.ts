import type { Command } from 'commander';
import { ShuyuClient } from '../../sdk/client.js';
import { isShuyuApiError } from '../../sdk/errors.js';
import { type CommonOptions, connection, withCommon } from '../common.js';
import { action, print, table } from '../output.js';
import { type PinnedEnclave, type Profile, profileName, profilesPath, readProfiles, saveProfile, writeProfiles } from '../profiles.js';
import { DomainError } from '../../../contracts/errors.js';

/** `shuyu login`, `shuyu whoami`, `shuyu profiles`: who the CLI talks to, as whom. */
export function register(program: Command): void {
  withCommon(
    program
      .command('login')
      .description('check a token against a deployment and store it as a profile (0600), pinning the enclave key')
      .requiredOption('--url <url>', 'base URL, e.g. http://127.0.0.1:8080')
      .requiredOption('--token <token>', 'bearer token (the operator gives one to each user)')
      .option('--key <file>', 'your SM2 private key PEM (reviewers sign approvals with it)')
      .option('--repin', 'accept a changed enclave signing key (only after checking it out of band)'),
  ).action(
    action(async (opts: CommonOptions & { url: string; token: string; key?: string; repin?: boolean }) => {
      const client = new ShuyuClient({ url: opts.url, token: opts.token });
      const me = await client.me();
      const file = readProfiles();
      const name = profileName(opts.profile, process.env, file);
      const previous = file.profiles[name];
      let enclave: PinnedEnclave | undefined = previous?.url === opts.url ? previous.enclave : undefined;
      let enclaveNote = 'pinned';
      try {
        const key = await client.enclaveSigningKey();
        if (enclave && enclave.fingerprint !== key.fingerprint && !opts.repin) {
          throw new DomainError(
            'enclave-key-changed',
            `the enclave signing key of ${opts.url} changed (pinned ${enclave.fingerprint.slice(0, 16)}…, served ${key.fingerprint.slice(0, 16)}…); check with the operator, then run login again with --repin`,
          );
        }
        if (!enclave || enclave.fingerprint !== key.fingerprint) enclave = { ...key, pinnedAt: new Date().toISOString() };
        else enclaveNote = 'already pinned';
      } catch (e) {
        if (!isShuyuApiError(e)) throw e;
        enclaveNote = `not pinned (${e.title}); it will be pinned on first use`;
      }
      const profile: Profile = { url: opts.url, token: opts.token, ...(enclave ? { enclave } : {}), ...(opts.key ? { keyFile: opts.key } : previous?.keyFile ? { keyFile: previous.keyFile } : {}) };
      const path = saveProfile(name, profile);
      const out = { profile: name, path, url: opts.url, user: me.user, org: me.org, enclaveFingerprint: enclave?.fingerprint ?? null };
      print(opts, out, () =>
        `Logged in to ${opts.url} as ${me.user.name} (${me.user.role}, ${me.org.name}); profile "${name}" saved in ${path}.\n` +
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
