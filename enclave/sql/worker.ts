import { parentPort } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import initSqlJs from 'sql.js';
import { openRowChunkBox } from '../format/row-chunk.js';
import { DATASET_TABLE, ROW_COLUMN } from './names.js';
import type { RowMapJob, RowMapReply, SandboxJob, SandboxMembership, SandboxReply } from './sandbox-protocol.js';

/**
 * The SQL sandbox worker: started for ONE job, then terminated. It receives everything by message (sealed
 * chunks, the unwrap key, the checked query) and answers only aggregate rows plus, for the differencing
 * defence, per-row group/aggregate membership bits (which never leave the enclave process).
 * It is given an empty environment (no master secret) and no handles; see docs/privacy.md for what a
 * worker thread does and does not isolate.
 */

// No top-level await: the sandbox runs this file as one CommonJS bundle (see sandbox.ts workerSource).
const sqlReady = initSqlJs();
type SqlJs = Awaited<typeof sqlReady>;

function sqlType(type: string): string {
  if (type === 'int') return 'INTEGER';
  if (type.startsWith('decimal')) return 'REAL';
  return 'TEXT';
}

const quote = (name: string): string => `"${name}"`; // names are schema-checked [a-z][a-z0-9_]*

/** Open one chunk (enclave/format/row-chunk.ts, the one opener) and zero its data key whatever happens. */
function openChunk(ch: { dataKey: Uint8Array; box: Uint8Array; aad: Uint8Array }, index: number): { columns: string[]; rows: unknown[] } {
  try {
    return openRowChunkBox(ch.dataKey, ch.box, ch.aad, `row chunk ${index}`);
  } finally {
    ch.dataKey.fill(0);
  }
}

function run(SQL: SqlJs, job: SandboxJob): SandboxReply {
  const t0 = performance.now();
  const db = new SQL.Database();
  try {
    db.exec(`PRAGMA hard_heap_limit=${Math.floor(job.sqliteHeapLimitBytes)}; PRAGMA secure_delete=ON; PRAGMA trusted_schema=OFF;`);
    const cols = job.columns;
    db.exec(`CREATE TABLE ${DATASET_TABLE} (${quote(ROW_COLUMN)} INTEGER PRIMARY KEY, ${cols.map((c) => `${quote(c.name)} ${sqlType(c.type)}`).join(', ')})`);
    const width = cols.length + 1;
    const batch = Math.max(1, Math.min(256, Math.floor(30000 / width)));
    const tuple = `(${new Array(width).fill('?').join(',')})`;
    const insertMany = db.prepare(`INSERT INTO ${DATASET_TABLE} VALUES ${new Array(batch).fill(tuple).join(',')}`);
    const insertOne = db.prepare(`INSERT INTO ${DATASET_TABLE} VALUES ${tuple}`);
    const numeric = cols.map((c) => c.type === 'int' || c.type.startsWith('decimal'));
    // subjects for the differencing defence: identifier values become dense numbers here and never leave
    const idCol = job.membership ? cols.findIndex((c) => c.role === 'identifier') : -1;
    const subjectOf = new Map<string | number, number>();
    const subjects: number[] = [];
    let unsealMs = 0;
    let heapPeak = 0;
    let loadMs = 0;
    let rowId = 0;
    const params: (string | number | null)[] = new Array(width * batch);
    let filled = 0;
    db.exec('BEGIN');
    for (let ci = 0; ci < job.chunks.length; ci++) {
      const ch = job.chunks[ci]!;
      const u0 = performance.now();
      const plain = openChunk(ch, ci);
      const u1 = performance.now();
      unsealMs += u1 - u0;
      // chunk column order → schema order
      const pos = cols.map((c) => plain.columns.indexOf(c.name));
      if (pos.some((p) => p < 0) || plain.columns.length !== job.chunkColumns.length || !job.chunkColumns.every((c) => plain.columns.includes(c))) {
        return { ok: false, error: { type: 'row-chunk-invalid', message: `chunk ${ci}: its columns do not match the dataset schema` } };
      }
      for (const r of plain.rows) {
        if (!Array.isArray(r) || r.length !== job.chunkColumns.length) return { ok: false, error: { type: 'row-chunk-invalid', message: `chunk ${ci}: a row has the wrong width` } };
        params[filled * width] = ++rowId;
        for (let j = 0; j < cols.length; j++) {
          const raw: unknown = r[pos[j]!] ?? null;
          if (raw !== null && typeof raw !== 'string' && typeof raw !== 'number') return { ok: false, error: { type: 'row-chunk-invalid', message: `chunk ${ci}: a value is not a scalar` } };
          let v = raw as string | number | null;
          if (numeric[j] && v !== null) {
            if (typeof v !== 'number') v = Number(v);
            if (!Number.isFinite(v)) return { ok: false, error: { type: 'row-chunk-invalid', message: `chunk ${ci}: a ${cols[j]!.type} value is not a number` } };
            const b = cols[j]!.bounds; // clamp step: every row's contribution within the schema bounds
            if (b) v = Math.min(Math.max(v, b[0]), b[1]);
          }
          params[filled * width + 1 + j] = v;
        }
        if (idCol >= 0) {
          const idv = (r[pos[idCol]!] ?? `\u0000row${rowId}`) as string | number; // a missing identifier is its own subject
          let sIdx = subjectOf.get(idv);
          if (sIdx === undefined) subjectOf.set(idv, (sIdx = subjectOf.size));
          subjects.push(sIdx);
        }
        if (++filled === batch) {
          insertMany.run(params);
          filled = 0;
        }
      }
      plain.rows.length = 0; // drop references to the plaintext as soon as it is loaded
      heapPeak = Math.max(heapPeak, getHeapStatistics().used_heap_size);
      loadMs += performance.now() - u1;
    }
    const l0 = performance.now();
    for (let i = 0; i < filled; i++) insertOne.run(params.slice(i * width, (i + 1) * width));
    params.fill(null);
    insertMany.free();
    insertOne.free();
    db.exec('COMMIT');
    loadMs += performance.now() - l0;

    const q0 = performance.now();
    const res = db.exec(job.executed, job.params ?? [])[0];
    const columns = res?.columns ?? [];
    const rows = (res?.values ?? []) as (string | number | null)[][];
    const queryMs = performance.now() - q0;

    let membership: SandboxMembership | undefined;
    if (job.membership) {
      const gIdx = job.groupCount > 0 ? job.groupCount : 0;
      const keyCols = Array.from({ length: gIdx }, (_, i) => columns.indexOf(`__g${i}`));
      const groupOf = new Map<string, number>();
      rows.forEach((r, i) => groupOf.set(JSON.stringify(keyCols.map((k) => r[k] ?? null)), i));
      const stmt = db.prepare(job.membership);
      const rowArr: number[] = [];
      const grpArr: number[] = [];
      const maskArr: number[] = [];
      while (stmt.step()) {
        const v = stmt.get() as (string | number | null)[];
        rowArr.push(v[0] as number);
        grpArr.push(groupOf.get(JSON.stringify(v.slice(1, 1 + gIdx))) ?? -1);
        let m = 0;
        for (let a = 0; a < job.aggregates; a++) if (v[1 + gIdx + a]) m |= 1 << a;
        maskArr.push(m);
      }
      stmt.free();
      membership = { row: Int32Array.from(rowArr), group: Int32Array.from(grpArr), mask: Int32Array.from(maskArr), ...(idCol >= 0 ? { subjects: Int32Array.from(subjects) } : {}) };
      subjectOf.clear();
    }
    db.exec(`DROP TABLE ${DATASET_TABLE}`); // secure_delete zeroes the freed pages
    const heap = getHeapStatistics();
    return {
      ok: true,
      columns,
      rows,
      ...(membership ? { membership } : {}),
      stats: {
        rowsLoaded: rowId,
        unsealMs,
        loadMs,
        queryMs,
        totalMs: performance.now() - t0,
        jsHeapBytes: Math.max(heapPeak, heap.used_heap_size),
        jsHeapPeakMallocedBytes: heap.peak_malloced_memory,
        envKeys: Object.keys(process.env).length,
      },
    };
  } catch (e) {
    const err = e as { type?: string; message?: string };
    return { ok: false, error: { type: typeof err.type === 'string' ? err.type : 'sql-execution-failed', message: String(err.message ?? e).slice(0, 300) } };
  } finally {
    db.close();
    for (const ch of job.chunks) ch.dataKey.fill(0);
  }
}

/** Row → HE partition (and subject) numbers for the differencing guard; see RowMapJob. No SQL involved. */
function mapRows(job: RowMapJob): RowMapReply {
  const t0 = performance.now();
  const partition: number[] = [];
  const subjects: number[] = [];
  const subjectOf = new Map<unknown, number>();
  const partIndex = new Map(job.partitionKeys.map((k, i) => [k, i]));
  const codeOf = job.partitionBy.map((d) => new Map(d.values.map((v, i) => [v, i])));
  const bad = (message: string): RowMapReply => ({ ok: false, error: { type: 'row-chunk-invalid', message } });
  try {
    for (let ci = 0; ci < job.chunks.length; ci++) {
      const plain = openChunk(job.chunks[ci]!, ci);
      if (plain.columns.length !== job.chunkColumns.length || !job.chunkColumns.every((c) => plain.columns.includes(c))) {
        return bad(`chunk ${ci}: its columns do not match the dataset schema`);
      }
      const dimPos = job.partitionBy.map((d) => plain.columns.indexOf(d.name));
      const idPos = job.identifier === null ? -1 : plain.columns.indexOf(job.identifier);
      for (const r of plain.rows) {
        if (!Array.isArray(r) || r.length !== job.chunkColumns.length) return bad(`chunk ${ci}: a row has the wrong width`);
        const codes: number[] = [];
        for (let j = 0; j < dimPos.length; j++) {
          const code = codeOf[j]!.get(r[dimPos[j]!] as string);
          if (code === undefined) return bad(`chunk ${ci}: a row's ${job.partitionBy[j]!.name} is not one of its declared values`);
          codes.push(code);
        }
        const p = partIndex.get(codes.join(','));
        if (p === undefined) return bad(`chunk ${ci}: a row falls in no partition of the bundle's HE layout`);
        partition.push(p);
        if (idPos >= 0) {
          const idv: unknown = r[idPos] ?? `\u0000row${partition.length}`; // a missing identifier is its own subject (as in run())
          let sIdx = subjectOf.get(idv);
          if (sIdx === undefined) subjectOf.set(idv, (sIdx = subjectOf.size));
          subjects.push(sIdx);
        }
      }
      plain.rows.length = 0;
    }
    subjectOf.clear();
    return {
      ok: true,
      map: { partition: Int32Array.from(partition), ...(job.identifier !== null ? { subjects: Int32Array.from(subjects) } : {}) },
      stats: { rows: partition.length, totalMs: performance.now() - t0 },
    };
  } catch (e) {
    const err = e as { type?: string; message?: string };
    return { ok: false, error: { type: typeof err.type === 'string' ? err.type : 'row-map-failed', message: String(err.message ?? e).slice(0, 300) } };
  } finally {
    for (const ch of job.chunks) ch.dataKey.fill(0);
  }
}
parentPort!.once('message', async (job: SandboxJob | RowMapJob) => {
  if ('kind' in job && job.kind === 'row-map') {
    const reply = mapRows(job);
    const transfer = reply.ok ? [reply.map.partition.buffer, ...(reply.map.subjects ? [reply.map.subjects.buffer] : [])] : [];
    parentPort!.postMessage(reply, transfer as ArrayBuffer[]);
    return;
  }
  const sqlJob = job as SandboxJob;
  let SQL: SqlJs;
  try {
    SQL = await sqlReady;
  } catch (e) {
    for (const ch of sqlJob.chunks) ch.dataKey.fill(0);
    parentPort!.postMessage({ ok: false, error: { type: 'sql-sandbox-failed', message: `sql.js did not start: ${String((e as Error)?.message ?? e).slice(0, 200)}` } } satisfies SandboxReply);
    return;
  }
  const reply = run(SQL, sqlJob);
  const m = reply.ok ? reply.membership : undefined;
  const transfer = m ? [m.row.buffer, m.group.buffer, m.mask.buffer, ...(m.subjects ? [m.subjects.buffer] : [])] : [];
  parentPort!.postMessage(reply, transfer as ArrayBuffer[]);
});
