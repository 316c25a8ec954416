import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { DomainError } from '../../contracts/errors.js';

/**
 * Per-user CLI profiles: `~/.config/shuyu/profiles.json` (XDG_CONFIG_HOME honoured), mode 0600 because
 * it holds bearer tokens. A profile may also hold the enclave key the buyer pinned on first use.
 */

export const PinnedEnclave = z
  .object({ publicKeyPem: z.string().min(1), fingerprint: z.string().regex(/^[0-9a-f]{64}$/), pinnedAt: z.string() })
  .strict();
export type PinnedEnclave = z.infer<typeof PinnedEnclave>;

export const Profile = z
  .object({
    url: z.string().url(),
    token: z.string().min(1),
    /** the enclave signing key pinned on first contact (trust on first use, checked on every receipt) */
    enclave: PinnedEnclave.optional(),
    /** PEM file of the user's own SM2 private key (reviewers sign approvals with it) */
    keyFile: z.string().optional(),
  })
  .strict();
export type Profile = z.infer<typeof Profile>;

export const ProfilesFile = z
  .object({ current: z.string().optional(), profiles: z.record(z.string(), Profile) })
  .strict();
export type ProfilesFile = z.infer<typeof ProfilesFile>;

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'shuyu');
}

export const profilesPath = (env: NodeJS.ProcessEnv = process.env): string => join(configDir(env), 'profiles.json');

export function readProfiles(env: NodeJS.ProcessEnv = process.env): ProfilesFile {
  const path = profilesPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DomainError('bad-profiles-file', `${path} is not valid JSON; fix it or run shuyu login again`);
  }
  const parsed = ProfilesFile.safeParse(json);
  if (!parsed.success) throw new DomainError('bad-profiles-file', `${path}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Atomic write (temp file + rename) so a crash never leaves a half-written token file; 0600 always. */
export function writeProfiles(file: ProfilesFile, env: NodeJS.ProcessEnv = process.env): string {
  const path = profilesPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(ProfilesFile.parse(file), null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}

export const profileName = (explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, file?: ProfilesFile): string =>
  explicit || env.SHUYU_PROFILE || file?.current || 'default';

export function saveProfile(name: string, profile: Profile, env: NodeJS.ProcessEnv = process.env): string {
  const file = readProfiles(env);
  file.profiles[name] = Profile.parse(profile);
  file.current ??= name;
  return writeProfiles(file, env);
}

export function updateProfile(name: string, patch: Partial<Profile>, env: NodeJS.ProcessEnv = process.env): void {
  const file = readProfiles(env);
  const existing = file.profiles[name];
  if (!existing) return; // env-only sessions (SHUYU_URL/SHUYU_TOKEN) have nothing to update
  file.profiles[name] = Profile.parse({ ...existing, ...patch });
  writeProfiles(file, env);
}

/** What a command connects with: the profile, overridden field by field by SHUYU_URL / SHUYU_TOKEN. */
export interface Connection {
  name: string;
  url: string;
  token: string;
  profile?: Profile;
}

export function resolveConnection(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): Connection {
  const file = readProfiles(env);
  const name = profileName(explicit, env, file);
  const profile = file.profiles[name];
  if (explicit && !profile && !(env.SHUYU_URL && env.SHUYU_TOKEN)) {
    throw new DomainError('no-profile', `no profile named "${explicit}" in ${profilesPath(env)}; run shuyu login --profile ${explicit}`);
  }
  const url = env.SHUYU_URL || profile?.url;
  const token = env.SHUYU_TOKEN || profile?.token;
  if (!url || !token) {
    throw new DomainError('not-logged-in', 'not logged in: run shuyu login --url URL --token TOKEN, or set SHUYU_URL and SHUYU_TOKEN');
  }
  return { name, url, token, ...(profile ? { profile } : {}) };
}
