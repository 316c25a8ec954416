import type { Column } from '../../contracts/dataset/schema.js';
import { table } from './output.js';

/** A schema's columns for people: name, type, role, level, tags, and bounds or the number of values. */
export const schemaTable = (columns: Column[]): string =>
  table(columns, [
    { header: 'column', get: (c) => c.name },
    { header: 'type', get: (c) => c.type },
    { header: 'role', get: (c) => c.role },
    { header: 'level', get: (c) => c.level },
    { header: 'tags', get: (c) => c.tags.join(',') },
    { header: 'bounds/values', get: (c) => (c.bounds ? `[${c.bounds.join(', ')}]` : c.values ? `${c.values.length} values` : '') },
  ]);
