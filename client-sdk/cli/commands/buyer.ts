import type { Command } from 'commander';
import { Computation } from '../../../contracts/computation.js';
import type { Offer, SignedQuote, Trade } from '../../sdk/types.js';
import type { BuyerClient } from '../../sdk/buyer.js';
import { type CommonOptions, outputFile, positiveInt, readJsonFile, withCommon, writeOutputFile } from '../common.js';
import { UsageError, action, print, table, yuan } from '../output.js';
import { buyerClient } from '../sdk-factory.js';
import { offerRows, screeningLines } from './owner-offers.js';

/**
 * `shuyu buyer …`: offers, quotes, requests (quote + submit with an Idempotency-Key), trades, results.
 * Results are verified offline against the enclave key pinned in the profile before they are written.
 */

type RequestOpts = CommonOptions & { computation: string; purpose?: string; purposeCode?: string; destination: string };

/** The purpose code: --purpose-code, or the offer's only allowed purpose. */
async function purposeFor(buyer: BuyerClient, offerId: string, opts: RequestOpts): Promise<{ code: string; statement: string }> {
  const statement = opts.purpose ?? '';
  if (statement.trim().length < 10) throw new UsageError('--purpose TEXT: say what the result is for, in at least 10 characters');
  if (opts.purposeCode) return { code: opts.purposeCode, statement };
  const offer: Offer = await buyer.offer(offerId);
  if (offer.terms.purposes.length === 1) return { code: offer.terms.purposes[0]!, statement };
  throw new UsageError(`this offer allows several purposes (${offer.terms.purposes.join(', ')}): choose one with --purpose-code`);
}

const priceLine = ({ statement: s }: SignedQuote): string =>
  `price ${yuan(s.priceFen)} (owner ${yuan(s.ownerShareFen)}, platform ${yuan(s.platformFeeFen)}), ${s.rows} rows, ε ${s.epsilonMilli / 1000}, valid until ${s.expiresAt}`;

const tradeLine = (t: Trade): string => `trade ${t.id}: ${t.state}, price ${yuan(t.priceFen)}`;

function withRequest(cmd: Command): Command {
  return withCommon(cmd)
    .requiredOption('--computation <file>', 'computation JSON: {"kind":"aggregate",...} | {"kind":"sql",...} | {"kind":"verify",...}')
    .option('--purpose <text>', 'what the result is for (at least 10 characters; reviewers read it)')
    .option('--purpose-code <code>', "purpose code from the offer's terms (default: the offer's only one)")
    .option('--destination <region>', 'ISO 3166 region the result goes to (outside CN is cross-border)', 'CN');
}

export function register(program: Command): void {
  const buyer = program.command('buyer').description('buyer: offers, quotes, requests, trades, results, wallet');

  withCommon(buyer.command('offers <datasetId>').description("a dataset's active offers")).action(
    action(async (datasetId: string, opts: CommonOptions) => {
      const { buyer: b } = await buyerClient(opts);
      const items = await b.offers(datasetId);
      print(opts, { items }, () => offerRows(items));
    }),
  );

  withRequest(buyer.command('quote <offerId>').description('get a signed, expiring price for a computation (nothing is held)')).action(
    action(async (offerId: string, opts: RequestOpts) => {
      const computation = readJsonFile(opts.computation, Computation, 'computation');
      const { buyer: b } = await buyerClient(opts);
      const purpose = await purposeFor(b, offerId, opts);
      const q = await b.quote(offerId, { computation, purpose, destination: opts.destination });
      print(opts, q, () => `Quote ${q.statement.quoteId}: ${priceLine(q)}.`);
    }),
  );

  withRequest(
    buyer
      .command('request <offerId>')
      .description('quote and submit a computation as a trade (holds the price; screened by the negative list)')
      .option('--idempotency-key <key>', 'reuse to retry safely (default: a fresh one)'),
  ).action(
    action(async (offerId: string, opts: RequestOpts & { idempotencyKey?: string }) => {
      const computation = readJsonFile(opts.computation, Computation, 'computation');
      const { buyer: b } = await buyerClient(opts);
      const purpose = await purposeFor(b, offerId, opts);
      const r = await b.request(offerId, { computation, purpose, destination: opts.destination }, { idempotencyKey: opts.idempotencyKey });
      print(opts, r, () => {
        return [`Quoted: ${priceLine(r.quote)}.`, `Submitted ${tradeLine(r.trade)}.`, screeningLines(r.trade.screening)].filter(Boolean).join('\n');
      });
      return ['rejected', 'cancelled', 'expired', 'failed'].includes(r.trade.state) ? 1 : 0;
    }),
  );

  withCommon(buyer.command('trades').description("your organisation's trades")).action(
    action(async (opts: CommonOptions) => {
      const { buyer: b } = await buyerClient(opts);
      const page = await b.trades({ limit: 100 });
      print(opts, page, () => table(page.items, [
        { header: 'trade', get: (t) => t.id },
        { header: 'state', get: (t) => t.state },
        { header: 'offer', get: (t) => t.offerId },
        { header: 'price', get: (t) => yuan(t.priceFen), align: 'right' },
        { header: 'purpose', get: (t) => t.purpose.code },
      ]));
    }),
  );

  withCommon(buyer.command('trade <tradeId>').description('a trade with its state history')).action(
    action(async (tradeId: string, opts: CommonOptions) => {
      const { buyer: b } = await buyerClient(opts);
      const t = await b.trade(tradeId);
      print(opts, t, () => tradeLine(t) + '\n' + table(t.transitions, [
        { header: 'at', get: (x) => x.at },
        { header: 'from', get: (x) => x.from },
        { header: 'to', get: (x) => x.to },
        { header: 'reason', get: (x) => x.reason },
      ]));
    }),
  );

  withCommon(buyer.command('cancel <tradeId>').description('cancel a trade before it runs (releases the hold)').requiredOption('--reason <text>')).action(
    action(async (tradeId: string, opts: CommonOptions & { reason: string }) => {
      const { buyer: b } = await buyerClient(opts);
      const t = await b.cancel(tradeId, opts.reason);
      print(opts, t, () => `Cancelled ${tradeLine(t)}.`);
    }),
  );

  withCommon(
    buyer
      .command('result <tradeId>')
      .description('fetch the signed result, verify it against the pinned enclave key, write the receipt')
      .requiredOption('--out <receipt.json>', 'where to write the receipt')
      .option('--wait', 'wait for the trade to finish first')
      .option('--timeout <seconds>', 'how long --wait waits', positiveInt, 300),
  ).action(
    action(async (tradeId: string, opts: CommonOptions & { out: string; wait?: boolean; timeout: number }) => {
      outputFile(opts.out, 'receipt');
      const { buyer: b, conn } = await buyerClient(opts);
      const r = await b.result(tradeId, {
        wait: opts.wait,
        timeoutMs: opts.timeout * 1000,
        onState: (t) => {
          if (!opts.json) process.stderr.write(`  ${t.state}\n`);
        },
      });
      writeOutputFile(opts.out, JSON.stringify(r.receipt, null, 2) + '\n', 'receipt');
      const fp = b.pinnedEnclave?.fingerprint ?? '';
      const doc = { tradeId, receiptFile: opts.out, verified: true, pinnedFingerprint: fp, profile: conn.name, result: r.result, payload: r.payload };
      if (opts.json) return print(opts, doc, () => '');
      // the schema gives each output its decimals and the groups that could be absent; without it the table still prints
      const datasetId = typeof r.payload.datasetId === 'string' ? r.payload.datasetId : undefined;
      const schema = datasetId ? await b.catalogEntry(datasetId).then((d) => d.schema, () => null) : null;
      let computation: unknown;
      try {
        computation = typeof r.payload.computation === 'string' ? JSON.parse(r.payload.computation) : r.payload.computation;
      } catch {
        computation = undefined;
      }
      const { resultText } = await import('../result-view.js');
      print(opts, doc, () =>
        `Receipt verified against the pinned enclave key ${fp.slice(0, 16)}… and written to ${opts.out}.\n\n` +
        resultText(r.result, { schema, privacy: r.payload.privacy as Record<string, unknown> | undefined, computation }));
    }),
  );

  withCommon(buyer.command('wallet').description('balances and recent ledger entries (integer fen in --json)')).action(
    action(async (opts: CommonOptions) => {
      const { buyer: b } = await buyerClient(opts);
      const [wallet, statement] = await Promise.all([b.wallet(), b.statement({ limit: 50 })]);
      print(opts, { wallet, statement }, () => `Available ${yuan(wallet.availableFen)}, held ${yuan(wallet.heldFen)}.`);
    }),
  );
}

