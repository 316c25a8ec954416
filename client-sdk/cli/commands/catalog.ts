import type { Command } from 'commander';
import { SECTOR_SLUGS } from '../../../contracts/dataset/sectors.js';
import { LEVEL_NAMES } from '../../../contracts/dataset/schema.js';
import { Option } from 'commander';
import { type CommonOptions, positiveInt, withCommon } from '../common.js';
import { action, print, table } from '../output.js';
import { schemaTable } from '../schema-view.js';
import { BuyerClient } from '../../sdk/buyer.js';
import { connection } from '../sdk-factory.js';

export { schemaTable } from '../schema-view.js';

/** Browsing needs no pinned enclave key: only receipts are checked against it. */
const browse = (opts: CommonOptions): BuyerClient => new BuyerClient(connection(opts));

/** `shuyu catalog`: search the catalogue; `shuyu catalog show|sample DATASET`. */
export function register(program: Command): void {
  const catalog = withCommon(
    program
      .command('catalog')
      .description('search the catalogue of datasets')
      .addOption(new Option('--sector <slug>', 'one of the 20 industries and domains of the Yunnan guidance on opening industry big data').choices(SECTOR_SLUGS))
      .option('--q <text>', 'keyword in title, description, keywords or column names')
      .option('--level <n>', 'only datasets whose most sensitive column is at most this level', positiveInt)
      .option('--limit <n>', 'at most this many', positiveInt, 50),
  ).action(
    action(async (opts: CommonOptions & { sector?: (typeof SECTOR_SLUGS)[number]; q?: string; level?: number; limit: number }) => {
      const buyer = browse(opts);
      const page = await buyer.catalog({ sector: opts.sector, q: opts.q, level: opts.level, limit: Math.min(opts.limit, 100) });
      print(opts, page, () => table(page.items, [
        { header: 'dataset', get: (d) => d.id },
        { header: 'sector', get: (d) => d.sector },
        { header: 'level', get: (d) => `${d.maxLevel} ${LEVEL_NAMES[d.maxLevel].zh}` },
        { header: 'rows', get: (d) => d.rowCount, align: 'right' },
        { header: 'offers', get: (d) => d.activeOffers, align: 'right' },
        { header: 'title', get: (d) => d.title },
      ]));
    }),
  );

  withCommon(catalog.command('show <datasetId>').description('a dataset\'s entry with its schema')).action(
    action(async (id: string, opts: CommonOptions) => {
      const buyer = browse(opts);
      const d = await buyer.catalogEntry(id);
      print(opts, d, () => `${d.title}\n${d.description}\nsector ${d.sector}, ${d.rowCount} rows, commitment ${d.commitment}\n\n` +
        schemaTable(d.schema.columns));
    }),
  );

  withCommon(catalog.command('sample <datasetId>').description('a generated sample that follows the schema (never real rows)').option('--rows <n>', 'rows', positiveInt, 10)).action(
    action(async (id: string, opts: CommonOptions & { rows: number }) => {
      const buyer = browse(opts);
      const s = await buyer.sample(id, opts.rows);
      print(opts, s, () => `${s.note}\n\n` + table(s.rows, s.columns.map((c, i) => ({ header: c, get: (r: (string | number | null)[]) => r[i] }))));
    }),
  );
}
