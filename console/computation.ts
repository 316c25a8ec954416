/** A computation (contracts/computation.ts) in words a reviewer reads at a glance, plus its exact JSON. */
import type { Computation } from '../contracts/computation.js';
import { list, t } from './i18n.js';

export function describeComputation(c: Computation): string {
  switch (c.kind) {
    case 'aggregate': {
      const metrics = list(c.metrics.map((m) => (m.op === 'count' ? t('op.count') : t(`op.${m.op}`, { m: m.measure ?? '' }))));
      const group = c.groupBy?.length ? t('comp.groupBy', { cols: list(c.groupBy) }) : '';
      const conds = (c.filters ?? []).map((f) => t('comp.in', { col: f.column, values: f.in.join(', ') })).join('; ');
      return t('comp.aggregate', { metrics, group, filter: conds ? t('comp.filter', { conds }) : '' });
    }
    case 'sql':
      return t('comp.sql');
    case 'verify':
      return t('comp.verify', {
        conds: list(Object.keys(c.match)),
        per: c.perAttribute ? t('comp.perAttribute') : '',
      });
  }
}
