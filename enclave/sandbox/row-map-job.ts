import { DomainError } from '../../contracts/errors.js';
import { openCheckedChunk, SubjectNumbers } from './encoded-chunk.js';
import type { RowMapJob, RowMapReply } from './protocol.js';

/** Row → HE partition, dimension codes and subject numbers for the differencing guard; see RowMapJob. No SQL involved. */
export function mapRows(job: RowMapJob): RowMapReply {
  const t0 = performance.now();
  let partition = new Int32Array(1 << 12);
  let codes = job.dimensions.map(() => new Uint16Array(1 << 12));
  let n = 0;
  const subjects = new SubjectNumbers();
  const partIndex = new Map(job.partitionKeys.map((k, i) => [k, i]));
  const codeOf = job.dimensions.map((d) => new Map(d.values.map((v, i) => [v, i])));
  const bad = (message: string): RowMapReply => ({ ok: false, error: { type: 'row-chunk-invalid', message } });
  try {
    // the partition of a row follows from its codes of the partitioning dimensions
    const partDims = job.partitionBy.map((p) => {
      const j = job.dimensions.findIndex((d) => d.name === p.name);
      if (j < 0 || job.dimensions[j]!.values.join('\u0000') !== p.values.join('\u0000'))
        throw new DomainError('row-map-failed', `partition column "${p.name}" is not a dimension of the schema`);
      return j;
    });
    // a numeric dimension is compared as a number in SQL ('03' = 3 = '3'): its declared values must be the
    // numbers' own spelling, so that one SQL value is one declared value
    for (const d of job.dimensions) {
      if (d.numeric && d.values.some((v) => String(Number(v)) !== v)) {
        throw new DomainError('row-map-failed', `numeric dimension "${d.name}" declares a value that is not a number's plain spelling`);
      }
    }
    for (let ci = 0; ci < job.chunks.length; ci++) {
      const plain = openCheckedChunk(job.chunks[ci]!, ci, job.chunkColumns, job.rowFormat);
      const dimPos = job.dimensions.map((d) => plain.columns.indexOf(d.name));
      const idPos = job.identifier === null ? -1 : plain.columns.indexOf(job.identifier);
      const rowCodes = new Int32Array(dimPos.length);
      for (const r of plain.rows) {
        if (!Array.isArray(r) || r.length !== job.chunkColumns.length) return bad(`chunk ${ci}: a row has the wrong width`);
        for (let j = 0; j < dimPos.length; j++) {
          const raw = r[dimPos[j]!];
          // a numeric dimension's value may be sealed as a number: its plain spelling is the declared value
          const code = codeOf[j]!.get(typeof raw === 'number' ? String(raw) : (raw as string));
          // every dimension value is one of the declared ones: the guard reasons on the declared domain
          if (code === undefined) return bad(`chunk ${ci}: a row's ${job.dimensions[j]!.name} is not one of its declared values`);
          rowCodes[j] = code;
        }
        const p = partIndex.get(partDims.map((j) => rowCodes[j]).join(','));
        if (p === undefined) return bad(`chunk ${ci}: a row falls in no partition of the bundle's HE layout`);
        if (n === partition.length) {
          const grow = <T extends Int32Array | Uint16Array>(a: T): T => {
            const b = new (a.constructor as new (n: number) => T)(a.length * 2);
            b.set(a);
            return b;
          };
          partition = grow(partition);
          codes = codes.map(grow);
        }
        partition[n] = p;
        for (let j = 0; j < dimPos.length; j++) codes[j]![n] = rowCodes[j]!;
        n++;
        // identifiers as the SQL table stores them (TEXT): a 32-bit integer is its decimal text, as the
        // sandbox's per-person row cap reads it, so both cap the same person's rows
        if (idPos >= 0) {
          const id = r[idPos];
          subjects.add(typeof id === 'number' ? (id === (id | 0) ? String(id) : `\uffff${String(id)}`) : id, n);
        }
      }
      plain.rows.length = 0;
    }
    const subjectNumbers = subjects.take();
    return {
      ok: true,
      map: {
        partition: partition.slice(0, n),
        ...(job.identifier !== null ? { subjects: subjectNumbers } : {}),
        dimensions: job.dimensions.map((d, j) => ({ name: d.name, codes: codes[j]!.slice(0, n) })),
      },
      stats: { rows: n, totalMs: performance.now() - t0 },
    };
  } catch (e) {
    const err = e as { type?: string; message?: string };
    return { ok: false, error: { type: typeof err.type === 'string' ? err.type : 'row-map-failed', message: String(err.message ?? e).slice(0, 300) } };
  } finally {
    for (const ch of job.chunks) ch.dataKey.fill(0);
  }
}
