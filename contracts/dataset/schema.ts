import { z } from 'zod';
import { SECTOR_SLUGS } from './sectors.js';

/**
 * A dataset's schema as its owner declares it. This is the one
 * definition: the SDK validates CSVs against it, the negative list reads its levels and tags, the
 * enclave reads measure bounds for overflow checks and DP clamping.
 */

/** 分类分级: 1 public (公开), 2 internal (内部), 3 sensitive (敏感), 4 core (核心). */
export const Level = z.number().int().min(1).max(4);
export type Level = z.infer<typeof Level>;

export const LEVEL_NAMES: Record<Level, { zh: string; en: string }> = {
  1: { zh: '公开', en: 'public' },
  2: { zh: '内部', en: 'internal' },
  3: { zh: '敏感', en: 'sensitive' },
  4: { zh: '核心', en: 'core' },
};

export const TAGS = [
  'personal',
  'sensitive-personal',
  'minor',
  'biometric',
  'location-trace',
  'precise-location',
  'financial',
  'health',
  'quasi-identifier',
  'state-secret-risk',
] as const;
export const Tag = z.enum(TAGS);
export type Tag = z.infer<typeof Tag>;

/** Column names are SQL identifiers too (the sandbox table uses them verbatim). */
export const ColumnName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, 'column names are lower-case letters, digits and _, starting with a letter');

export const ColumnType = z.union([
  z.literal('int'),
  z.string().regex(/^decimal\(([0-6])\)$/, 'decimal(scale) with scale 0–6'),
  z.literal('category'),
  z.literal('text'),
  z.literal('date'),
  z.literal('identifier'),
]);
export type ColumnType = z.infer<typeof ColumnType>;

export const Role = z.enum(['measure', 'dimension', 'identifier', 'attribute']);
export type Role = z.infer<typeof Role>;

export const Column = z
  .object({
    name: ColumnName,
    type: ColumnType,
    role: Role,
    level: Level,
    tags: z.array(Tag).default([]),
    description: z.string().max(500).optional(),
    /** Measures only: declared inclusive bounds, in the column's own units (not fixed-point). */
    bounds: z.tuple([z.number().finite(), z.number().finite()]).optional(),
    /** Dimensions only: the closed set of values (codes are indexes into it). */
    values: z.array(z.string().min(1).max(100)).min(1).max(4096).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.role === 'measure') {
      if (c.type !== 'int' && !c.type.startsWith('decimal')) {
        ctx.addIssue({ code: 'custom', message: `measure "${c.name}" must be int or decimal(scale)` });
      }
      if (!c.bounds) ctx.addIssue({ code: 'custom', message: `measure "${c.name}" needs bounds [min, max]` });
      else if (c.bounds[0] > c.bounds[1]) {
        ctx.addIssue({ code: 'custom', message: `measure "${c.name}": bounds min > max` });
      }
    } else if (c.bounds) {
      ctx.addIssue({ code: 'custom', message: `"${c.name}": bounds are only for measures` });
    }
    if (c.role === 'dimension') {
      if (!c.values) ctx.addIssue({ code: 'custom', message: `dimension "${c.name}" needs its list of values` });
      else if (new Set(c.values).size !== c.values.length) {
        ctx.addIssue({ code: 'custom', message: `dimension "${c.name}" lists a value twice` });
      }
    } else if (c.values) {
      ctx.addIssue({ code: 'custom', message: `"${c.name}": values are only for dimensions` });
    }
    if (c.role === 'identifier' && c.type !== 'identifier' && c.type !== 'text') {
      ctx.addIssue({ code: 'custom', message: `identifier "${c.name}" must have type identifier or text` });
    }
  });
export type Column = z.infer<typeof Column>;

export const DatasetSchema = z
  .object({
    sector: z.enum(SECTOR_SLUGS),
    columns: z.array(Column).min(1).max(64),
  })
  .strict()
  .superRefine((s, ctx) => {
    const names = s.columns.map((c) => c.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) ctx.addIssue({ code: 'custom', message: `column "${dup}" is declared twice` });
    if (s.columns.filter((c) => c.role === 'identifier').length > 1) {
      ctx.addIssue({ code: 'custom', message: 'at most one identifier column' });
    }
  });
export type DatasetSchema = z.infer<typeof DatasetSchema>;

/** Decimal scale of a column type: `decimal(2)` → 2, `int` → 0. */
export function scaleOf(type: ColumnType): number {
  const m = /^decimal\((\d)\)$/.exec(type);
  return m ? Number(m[1]) : 0;
}

export const columnByName = (schema: DatasetSchema, name: string): Column | undefined =>
  schema.columns.find((c) => c.name === name);
