import type { Command } from 'commander';
import { z } from 'zod';
import { type CommonOptions, readJsonFile, withCommon } from '../common.js';
import { action, print, table, yuan } from '../output.js';
import type { Evaluation, Offer } from '../../sdk/types.js';

/** `shuyu owner offer|offers|revise|withdraw|trades|revenue`. The offer file is an OfferInput (contracts/offer/offer.ts; validated by the server). */

const OfferFile = z.record(z.string(), z.unknown());

/** The client and its crypto are loaded when a command talks to the server, not when `owner check` starts. */
const ownerClient = async (opts: CommonOptions) => (await import('../sdk-factory.js')).ownerClient(opts);

export const offerRows = (offers: Offer[]): string =>
  table(offers, [
    { header: 'offer', get: (o) => o.id },
    { header: 'v', get: (o) => o.version },
    { header: 'status', get: (o) => o.status },
    { header: 'kinds', get: (o) => o.allowedKinds.join(',') },
    { header: 'purposes', get: (o) => o.terms.purposes.join(',') },
    { header: 'title', get: (o) => o.title },
  ]);

/** The negative list's verdict on a listing or trade, one line per rule that fired. */
export const screeningLines = (e: Evaluation | null | undefined): string =>
  !e ? '' : [`Negative list: ${e.decision}${e.findings.length ? '' : ' (no rule fired)'}`, ...e.findings.map((f) => `  ${f.ruleId} (${f.effect}): ${f.reason.en}`)].join('\n');

export function registerOfferCommands(owner: Command): void {
  withCommon(owner.command('offer <datasetId>').description('list an offer on a dataset').requiredOption('--file <offer.json>', 'the offer: title, allowedKinds, allowedColumns, priceModel, platformFeeBps, terms')).action(
    action(async (datasetId: string, opts: CommonOptions & { file: string }) => {
      const input = readJsonFile(opts.file, OfferFile, 'offer') as never;
      const w = await (await ownerClient(opts)).createOffer(datasetId, input);
      print(opts, w, () => `Listed offer ${w.offer.id} (version ${w.offer.version}) "${w.offer.title}" on dataset ${datasetId}.\n${screeningLines(w.screening)}`);
    }),
  );
  withCommon(owner.command('offers <datasetId>').description("a dataset's active offers")).action(
    action(async (datasetId: string, opts: CommonOptions) => {
      const items = await (await ownerClient(opts)).offers(datasetId);
      print(opts, { items }, () => offerRows(items));
    }),
  );
  withCommon(owner.command('revise <offerId>').description('publish a new version of an offer').requiredOption('--file <offer.json>')).action(
    action(async (offerId: string, opts: CommonOptions & { file: string }) => {
      const input = readJsonFile(opts.file, OfferFile, 'offer') as never;
      const w = await (await ownerClient(opts)).reviseOffer(offerId, input);
      print(opts, w, () => `Offer ${w.offer.id} is now at version ${w.offer.version}.\n${screeningLines(w.screening)}`);
    }),
  );
  withCommon(owner.command('withdraw <offerId>').description('withdraw an offer (no new quotes)')).action(
    action(async (offerId: string, opts: CommonOptions) => {
      const o = await (await ownerClient(opts)).withdrawOffer(offerId);
      print(opts, o, () => `Offer ${o.id} withdrawn.`);
    }),
  );
  withCommon(owner.command('trades').description("trades on your organisation's datasets")).action(
    action(async (opts: CommonOptions) => {
      const page = await (await ownerClient(opts)).trades({ limit: 100 });
      print(opts, page, () => table(page.items, [
        { header: 'trade', get: (t) => t.id },
        { header: 'state', get: (t) => t.state },
        { header: 'dataset', get: (t) => t.datasetId },
        { header: 'price', get: (t) => yuan(t.priceFen), align: 'right' },
        { header: 'your share', get: (t) => yuan(t.ownerShareFen), align: 'right' },
      ]));
    }),
  );
  withCommon(owner.command('revenue').description('revenue and balances (integer fen in --json)')).action(
    action(async (opts: CommonOptions) => {
      const c = await ownerClient(opts);
      const [wallet, statement] = await Promise.all([c.wallet(), c.statement({ limit: 50 })]);
      print(opts, { wallet, statement }, () =>
        `Revenue ${yuan(wallet.revenueFen)}, wallet ${yuan(wallet.availableFen)} available.\n\n` +
        table(statement.transactions, [
          { header: 'at', get: (t) => t.at },
          { header: 'kind', get: (t) => t.kind },
          { header: 'trade', get: (t) => t.tradeId ?? '' },
          { header: 'memo', get: (t) => t.memo },
        ]));
    }),
  );
}
