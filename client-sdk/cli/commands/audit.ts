import type { Command } from 'commander';
import { type CommonOptions, nonNegativeInt, positiveInt, withCommon } from '../common.js';
import { EXIT_FAILED, action, print, table } from '../output.js';
import { operatorClient } from '../sdk-factory.js';

/** `shuyu audit verify|events|checkpoint` (operator): the SM3 hash-chained audit log and its signed checkpoints. */
export function register(program: Command): void {
  const audit = program.command('audit').description('audit chain: verify, events, checkpoints (operator)');

  withCommon(audit.command('verify').description('verify the whole hash chain and every checkpoint signature (exit 1 if broken)')).action(
    action(async (opts: CommonOptions) => {
      const v = await operatorClient(opts).verifyAudit();
      print(opts, v, () => (v.ok ? `Audit chain OK: ${v.events} events, ${v.checkpoints} signed checkpoints.` : `Audit chain BROKEN: ${JSON.stringify(v)}`));
      return v.ok ? 0 : EXIT_FAILED;
    }),
  );

  withCommon(audit.command('events').description('read audit events').option('--after <seq>', 'events after this sequence number', nonNegativeInt).option('--limit <n>', '', positiveInt, 100).option('--entity <id>', 'only events about this trade/dataset/offer')).action(
    action(async (opts: CommonOptions & { after?: number; limit: number; entity?: string }) => {
      const r = await operatorClient(opts).auditEvents({ after: opts.after, limit: opts.limit, entityId: opts.entity });
      print(opts, r, () => table(r.events, [
        { header: 'seq', get: (e) => e.seq, align: 'right' },
        { header: 'at', get: (e) => e.at },
        { header: 'action', get: (e) => `${e.entityType}.${e.action}` },
        { header: 'entity', get: (e) => e.entityId },
        { header: 'actor', get: (e) => e.actor },
      ]));
    }),
  );

  withCommon(audit.command('checkpoint').description('sign the current head of the chain')).action(
    action(async (opts: CommonOptions) => {
      const c = await operatorClient(opts).checkpoint();
      const st = (c as { statement?: { seq?: number; head?: string; keyFingerprint?: string } }).statement ?? {};
      print(opts, c, () => `Signed checkpoint at event ${st.seq}: head ${st.head}, platform key ${String(st.keyFingerprint).slice(0, 16)}….`);
    }),
  );
}
