import type { Command } from 'commander';
import { type CommonOptions, positiveInt, withCommon } from '../common.js';
import { action, print, table, yuan } from '../output.js';
import { reviewerClient, signingKeyFor } from '../sdk-factory.js';

/** `shuyu reviewer queue|show|approve|reject`: approvals are signed here with your SM2 key (--key or the profile's). */
export function register(program: Command): void {
  const reviewer = program.command('reviewer').description('compliance reviewer: queue, cases, signed approvals, rejections');

  withCommon(reviewer.command('queue').description('trades waiting for your review')).action(
    action(async (opts: CommonOptions) => {
      const page = await reviewerClient(opts).queue({ limit: 100 });
      print(opts, page, () => table(page.items, [
        { header: 'trade', get: (t) => t.id },
        { header: 'kind', get: (t) => t.computation.kind },
        { header: 'purpose', get: (t) => t.purpose.code },
        { header: 'destination', get: (t) => t.destination },
        { header: 'price', get: (t) => yuan(t.priceFen), align: 'right' },
        { header: 'findings', get: (t) => (t.screening?.findings ?? []).map((f) => f.ruleId).join(',') },
      ]));
    }),
  );

  withCommon(reviewer.command('show <tradeId>').description('the case: dataset, computation, purpose, negative-list findings')).action(
    action(async (tradeId: string, opts: CommonOptions) => {
      const c = await reviewerClient(opts).case(tradeId);
      const t = c.trade;
      print(opts, c, () => [
        `Trade ${t.id} on "${c.dataset.title}" (${c.dataset.sector}, level ${c.dataset.maxLevel})`,
        `Purpose ${t.purpose.code}: ${t.purpose.statement}`,
        `Destination ${t.destination}; price ${yuan(t.priceFen)}; ε ${t.epsilonMilli / 1000}; min group size ${t.minGroupSize}`,
        `Computation: ${JSON.stringify(t.computation)}`,
        `Negative list: ${t.screening?.decision ?? '—'}`,
        ...(t.screening?.findings ?? []).map((f) => `  ${f.ruleId} (${f.effect}): ${f.reason.zh} / ${f.reason.en}`),
      ].join('\n'));
    }),
  );

  withCommon(
    reviewer
      .command('approve <tradeId>')
      .description('approve: signs the approval statement with your SM2 key and submits it')
      .requiredOption('--reason <text>', 'why the trade may run (recorded in the audit chain)')
      .option('--key <file>', 'your SM2 private key PEM (default: the profile\'s)')
      .option('--valid-hours <n>', 'how long the approval may be used', positiveInt, 24),
  ).action(
    action(async (tradeId: string, opts: CommonOptions & { reason: string; key?: string; validHours: number }) => {
      const client = reviewerClient(opts);
      const key = await signingKeyFor(opts, 'reviewer', 'approve trades');
      const t = await client.approve(tradeId, key, opts.reason, { validHours: opts.validHours });
      print(opts, t, () => `Approved trade ${t.id}: now ${t.state}.`);
    }),
  );

  withCommon(reviewer.command('reject <tradeId>').description('reject with a reason (the buyer\'s hold is released)').requiredOption('--reason <text>')).action(
    action(async (tradeId: string, opts: CommonOptions & { reason: string }) => {
      const t = await reviewerClient(opts).reject(tradeId, opts.reason);
      print(opts, t, () => `Rejected trade ${t.id}: now ${t.state}.`);
    }),
  );
}
