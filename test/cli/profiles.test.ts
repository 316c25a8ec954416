import { mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { profilesPath, readProfiles, resolveConnection, saveProfile } from '../../client-sdk/cli/profiles.js';
import { displayWidth, table, yuan } from '../../client-sdk/cli/output.js';

describe('CLI profiles', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-prof-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes XDG_CONFIG_HOME/shuyu/profiles.json with mode 0600 and reads it back', () => {
    const env = { XDG_CONFIG_HOME: dir };
    const path = saveProfile('default', { url: 'http://127.0.0.1:9', token: 'tok-a' }, env);
    expect(path).to.equal(join(dir, 'shuyu', 'profiles.json'));
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(statSync(join(dir, 'shuyu')).mode & 0o077).to.equal(0);
    saveProfile('buyer', { url: 'http://127.0.0.1:10', token: 'tok-b' }, env);
    const file = readProfiles(env);
    expect(file.current).to.equal('default');
    expect(Object.keys(file.profiles)).to.deep.equal(['default', 'buyer']);
  });

  it('resolves --profile, SHUYU_PROFILE, and SHUYU_URL/SHUYU_TOKEN overrides field by field', () => {
    const env: NodeJS.ProcessEnv = { XDG_CONFIG_HOME: dir };
    saveProfile('default', { url: 'http://a', token: 'ta' }, env);
    saveProfile('b', { url: 'http://b', token: 'tb' }, env);
    expect(resolveConnection(undefined, env)).to.include({ name: 'default', url: 'http://a', token: 'ta' });
    expect(resolveConnection('b', env)).to.include({ name: 'b', url: 'http://b', token: 'tb' });
    expect(resolveConnection(undefined, { ...env, SHUYU_PROFILE: 'b' })).to.include({ url: 'http://b' });
    expect(resolveConnection('b', { ...env, SHUYU_TOKEN: 'tx' })).to.include({ url: 'http://b', token: 'tx' });
    expect(resolveConnection(undefined, { XDG_CONFIG_HOME: join(dir, 'none'), SHUYU_URL: 'http://e', SHUYU_TOKEN: 'te' })).to.include({ url: 'http://e', token: 'te' });
  });

  it('not logged in, an unknown profile and a corrupt file are typed errors', () => {
    const env = { XDG_CONFIG_HOME: dir };
    expect(() => resolveConnection(undefined, env)).to.throw().with.property('type', 'not-logged-in');
    expect(() => resolveConnection('nope', env)).to.throw().with.property('type', 'no-profile');
    mkdirSync(join(dir, 'shuyu'));
    writeFileSync(profilesPath(env), '{ not json');
    expect(() => readProfiles(env)).to.throw().with.property('type', 'bad-profiles-file');
  });
});

describe('CLI output helpers', () => {
  it('aligns tables by display width (CJK = 2 cells) and formats fen as yuan', () => {
    expect(displayWidth('昆明市')).to.equal(6);
    const t = table([{ a: '昆明市', n: 5 }, { a: 'Dali', n: 12 }], [
      { header: 'place', get: (r) => r.a },
      { header: 'n', get: (r) => r.n, align: 'right' },
    ]).split('\n');
    expect(t[0]).to.equal('place    n');
    expect(t[2]).to.equal('昆明市   5');
    expect(t[3]).to.equal('Dali    12');
    expect(yuan(123456)).to.equal('¥1234.56');
    expect(yuan(-5)).to.equal('-¥0.05');
  });
});
