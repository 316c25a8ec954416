import { Option, type Command } from 'commander';
import { reviewerCertificateFor } from '../../sdk/operator.js';
import { z } from 'zod';
import { type CommonOptions, positiveInt, readJsonFile, withCommon } from '../common.js';
import { action, print, table, yuan } from '../output.js';
import { operatorClient, signingKeyFor } from '../sdk-factory.js';

/** `shuyu admin …`: what the platform operator does — organisations, users, tokens, reviewer certificates. */
export function register(program: Command): void {
  const admin = program.command('admin').description('operator commands: organisations, users, tokens, reviewer certificates, top-ups, policy');

  const org = admin.command('org').description('organisations');
  withCommon(org.command('create').description('create an organisation').requiredOption('--name <name>').option('--region <code>', 'ISO 3166 region, e.g. CN or CN-53', 'CN')).action(
    action(async (opts: CommonOptions & { name: string; region: string }) => {
      const o = await operatorClient(opts).createOrg({ name: opts.name, region: opts.region });
      print(opts, o, () => `Created organisation ${o.name} (${o.region}): ${o.id}`);
    }),
  );
  withCommon(org.command('list').description('list organisations')).action(
    action(async (opts: CommonOptions) => {
      const items = await collect(operatorClient(opts).http.paginate<{ id: string; name: string; region: string; createdAt: string }>('/orgs'));
      print(opts, { items }, () => table(items, [
        { header: 'id', get: (o) => o.id },
        { header: 'name', get: (o) => o.name },
        { header: 'region', get: (o) => o.region },
      ]));
    }),
  );

  const user = admin.command('user').description('users');
  withCommon(
    user
      .command('create')
      .description('create a user and print its first token (shown once)')
      .requiredOption('--org <orgId>')
      .requiredOption('--name <name>')
      .addOption(new Option('--role <role>').choices(['owner', 'buyer', 'reviewer', 'operator']).makeOptionMandatory()),
  ).action(
    action(async (opts: CommonOptions & { org: string; name: string; role: 'owner' | 'buyer' | 'reviewer' | 'operator' }) => {
      const r = await operatorClient(opts).createUser({ orgId: opts.org, name: opts.name, role: opts.role });
      print(opts, r, () => `Created ${r.user.role} ${r.user.name}: ${r.user.id}\nToken (shown once, expires ${r.token.expiresAt}):\n${r.token.token}`);
    }),
  );
  withCommon(user.command('list').description('list users').option('--org <orgId>')).action(
    action(async (opts: CommonOptions & { org?: string }) => {
      const items = await collect(operatorClient(opts).http.paginate<{ id: string; name: string; role: string; orgId: string; keyFingerprint: string | null }>('/users', { orgId: opts.org }));
      print(opts, { items }, () => table(items, [
        { header: 'id', get: (u) => u.id },
        { header: 'name', get: (u) => u.name },
        { header: 'role', get: (u) => u.role },
        { header: 'key', get: (u) => (u.keyFingerprint ? u.keyFingerprint.slice(0, 16) + '…' : '—') },
      ]));
    }),
  );

  const token = admin.command('token').description('bearer tokens');
  withCommon(token.command('issue <userId>').description('issue another token for a user').option('--days <n>', 'validity in days', positiveInt)).action(
    action(async (userId: string, opts: CommonOptions & { days?: number }) => {
      const t = await operatorClient(opts).issueToken(userId, opts.days);
      print(opts, t, () => `Token ${t.tokenId} (expires ${t.expiresAt}):\n${t.token}`);
    }),
  );
  withCommon(token.command('revoke <tokenId>').description('revoke a token')).action(
    action(async (tokenId: string, opts: CommonOptions) => {
      await operatorClient(opts).revokeToken(tokenId);
      print(opts, { revoked: tokenId }, () => `Revoked token ${tokenId}.`);
    }),
  );

  withCommon(
    admin
      .command('certify <reviewerUserId>')
      .description("certify a reviewer's registered SM2 key with the operator key (signed here, sent to the server)")
      .option('--key <file>', "the operator's SM2 private key PEM (default: the profile's keyFile)")
      .option('--days <n>', 'validity in days', positiveInt, 365),
  ).action(
    action(async (reviewerId: string, opts: CommonOptions & { key?: string; days: number }) => {
      const key = await signingKeyFor(opts, 'operator', 'certify reviewers');
      const op = operatorClient(opts);
      const reviewer = await op.http.get<{ id: string; orgId: string; role: string; publicKeyPem: string | null }>(`/users/${reviewerId}`);
      const cert = reviewerCertificateFor(reviewer, key, { validDays: opts.days });
      const r = await op.submitCertificate(reviewerId, cert);
      print(opts, r, () => `Certified reviewer ${reviewerId}: key ${r.fingerprint.slice(0, 16)}…, valid until ${r.expiresAt}.`);
    }),
  );

  registerMoneyAndPolicy(admin);
}

function registerMoneyAndPolicy(admin: Command): void {
  withCommon(
    admin
      .command('topup <orgId>')
      .description("credit an organisation's wallet")
      .requiredOption('--amount-fen <n>', 'amount in fen (1 yuan = 100 fen)', positiveInt)
      .option('--memo <text>', 'note on the ledger entry', '')
      .option('--idempotency-key <key>', 'reuse to retry safely (default: a fresh one)'),
  ).action(
    action(async (orgId: string, opts: CommonOptions & { amountFen: number; memo: string; idempotencyKey?: string }) => {
      const t = await operatorClient(opts).topUp(orgId, opts.amountFen, { memo: opts.memo, idempotencyKey: opts.idempotencyKey });
      print(opts, t, () => `Credited ${yuan(opts.amountFen)} to ${orgId} (ledger transaction ${t.id}).`);
    }),
  );
  withCommon(admin.command('wallet <orgId>').description("an organisation's balances")).action(
    action(async (orgId: string, opts: CommonOptions) => {
      const w = await operatorClient(opts).wallet(orgId);
      print(opts, w, () => `${orgId}: available ${yuan(w.availableFen)}, held ${yuan(w.heldFen)}, revenue ${yuan(w.revenueFen)}`);
    }),
  );
  const policy = admin.command('policy').description('the negative list (负面清单)');
  withCommon(policy.command('show').description('the active negative list')).action(
    action(async (opts: CommonOptions) => {
      const p = await operatorClient(opts).policy();
      print(opts, p, () => `${p.policyId} v${p.version}: ${p.title.zh} / ${p.title.en}
` + table(p.rules, [
        { header: 'rule', get: (r) => r.id },
        { header: 'effect', get: (r) => r.effect },
        { header: 'kind', get: (r) => r.kind },
        { header: 'reason', get: (r) => r.reason.en },
      ]));
    }),
  );
  withCommon(policy.command('publish <file>').description('publish a new negative-list version (JSON document)')).action(
    action(async (file: string, opts: CommonOptions) => {
      const doc = readJsonFile(file, z.record(z.string(), z.unknown()), 'policy') as never;
      const p = await operatorClient(opts).publishPolicy(doc);
      print(opts, p, () => `Published ${p.policyId} version ${p.version} (${p.rules.length} rules).`);
    }),
  );
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
