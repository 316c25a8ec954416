import type { Database, SqlJsStatic } from 'sql.js';
import { DomainError } from '../../contracts/errors.js';
import { NULL_SLOT, NUMBER_SLOT, type EncodedChunk } from './encoded-chunk.js';

/**
 * Loads encoded chunks into a table through SQLite's C API as sql.js's module exports it
 * (sqlite3_prepare_v2 / bind_* / step / reset), without sql.js's Statement wrapper: that wrapper copies
 * every string into a fresh malloc'd C string and frees it after each step (most of the load's cost).
 * Here a chunk's text bytes are copied into wasm memory once and every text value is bound by pointer and
 * length as SQLITE_STATIC; numbers are bound as sql.js binds them (int when a 32-bit integer, else double),
 * so column affinity turns them into the same stored values as before.
 */

/** The parts of sql.js's emscripten module used here (exported by its build, absent from its typings). */
interface SqliteCApi {
  _malloc(n: number): number;
  _free(p: number): void;
  _sqlite3_prepare_v2(db: number, sql: number, nByte: number, stmt: number, tail: number): number;
  _sqlite3_bind_text(stmt: number, i: number, p: number, n: number, destructor: number): number;
  _sqlite3_bind_double(stmt: number, i: number, v: number): number;
  _sqlite3_bind_int(stmt: number, i: number, v: number): number;
  _sqlite3_step(stmt: number): number;
  _sqlite3_reset(stmt: number): number;
  _sqlite3_finalize(stmt: number): number;
  _sqlite3_errmsg(db: number): number;
  _sqlite3_changes(db: number): number;
  UTF8ToString(p: number): string;
}

const SQLITE_DONE = 101;
const SQLITE_NOMEM = 7;
const SQLITE_FULL = 13;
const SQLITE_STATIC = 0;

/**
 * Rows per identifier value, counted in a fixed table indexed by a hash of the value's bytes: values that
 * share a slot are counted together, so the largest count is an upper bound on the rows any one subject has
 * (never below it). With it, a group of n rows with an identifier has at least ⌈(n − rows without one) / max⌉
 * distinct identifiers: enough to decide k without counting them exactly (see worker.ts).
 */
export class SubjectRowBound {
  private readonly table = new Int32Array(1 << 22);
  nullRows = 0;

  addBytes(bytes: Uint8Array, from: number, to: number): void {
    let h = 0x811c9dc5; // FNV-1a (32 bit): a spreading hash, not a security function
    for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    this.table[(h >>> 0) & (this.table.length - 1)]!++;
  }

  /** false once a value was seen whose stored text this count cannot reproduce (then no bound is given) */
  usable = true;

  addNumber(v: number): void {
    // a 32-bit integer is bound as an int and a TEXT column stores its decimal digits, exactly String(v), so it
    // shares its slot with the same text; other numbers are stored as SQLite formats them: give up the bound
    if (v !== (v | 0)) {
      this.usable = false;
      return;
    }
    const t = new TextEncoder().encode(String(v));
    this.addBytes(t, 0, t.length);
  }

  maxRowsPerSubject(): number {
    let m = 1;
    for (let i = 0; i < this.table.length; i++) if (this.table[i]! > m) m = this.table[i]!;
    return m;
  }

  wipe(): void {
    this.table.fill(0);
  }
}

export class RawTableLoader {
  private readonly api: SqliteCApi;
  private readonly dbPtr: number;
  private readonly many: number;
  private readonly one: number;
  private rowId = 0;

  /**
   * @param width loaded columns (the table has `__row` first, then these)
   * @param batch rows per multi-row INSERT statement
   */
  constructor(
    SQL: SqlJsStatic,
    private readonly memory: WebAssembly.Memory,
    db: Database,
    table: string,
    private readonly width: number,
    private readonly batch: number,
    /** count rows per value of this loaded column (the identifier) into `bound` */
    private readonly bound?: { column: number; rows: SubjectRowBound },
    /** rows already in the table (numbering goes on from there) */
    startRow = 0,
    /**
     * the table's key columns (loaded column positions) when it is keyed on them: a chunk's rows are then
     * inserted grouped by their values there (stable), so consecutive inserts go to the same leaf pages
     */
    private readonly keyColumns: number[] = [],
  ) {
    this.rowId = startRow;
    this.api = SQL as unknown as SqliteCApi;
    this.dbPtr = (db as unknown as { db: number }).db;
    const tuple = `(${new Array(width + 1).fill('?').join(',')})`;
    // OR IGNORE: a statement that cannot abort halfway needs no statement journal — without it SQLite copies
    // every existing page a multi-row INSERT touches inside the transaction, to undo a half-done statement.
    // No row is ever ignored (__row is unique and set, the caller keeps NULLs out of key columns, columns
    // have no other constraints): step() checks with sqlite3_changes that every row went in.
    this.many = this.prepare(`INSERT OR IGNORE INTO ${table} VALUES ${new Array(batch).fill(tuple).join(',')}`);
    try {
      this.one = this.prepare(`INSERT OR IGNORE INTO ${table} VALUES ${tuple}`);
    } catch (e) {
      this.api._sqlite3_finalize(this.many);
      throw e;
    }
  }

  get rowsLoaded(): number {
    return this.rowId;
  }

  /** Insert one chunk's rows (numbered on from the previous chunk's); the chunk's bytes in wasm memory are zeroed after. */
  load(chunk: EncodedChunk): void {
    const api = this.api;
    const w = this.width;
    const textPtr = api._malloc(Math.max(1, chunk.text.length));
    if (textPtr === 0) throw new DomainError('sql-resource-limit', 'the SQL sandbox could not allocate memory for a row chunk');
    try {
      new Uint8Array(this.memory.buffer, textPtr, chunk.text.length).set(chunk.text);
      const first = this.rowId + 1;
      const { order, starts } = this.keyColumns.length > 0 ? this.orderByKey(chunk) : { order: null, starts: null };
      let off = 0;
      let r = 0;
      const full = chunk.rows - (chunk.rows % this.batch);
      for (; r < full; r += this.batch) {
        for (let k = 0; k < this.batch; k++) {
          if (order) this.bindRow(this.many, k * (w + 1), chunk, order[r + k]!, first + order[r + k]!, textPtr, starts[order[r + k]!]!);
          else off = this.bindRow(this.many, k * (w + 1), chunk, r + k, first + r + k, textPtr, off);
        }
        this.step(this.many, this.batch);
      }
      for (; r < chunk.rows; r++) {
        if (order) this.bindRow(this.one, 0, chunk, order[r]!, first + order[r]!, textPtr, starts[order[r]!]!);
        else off = this.bindRow(this.one, 0, chunk, r, first + r, textPtr, off);
        this.step(this.one, 1);
      }
      this.rowId += chunk.rows;
    } finally {
      new Uint8Array(this.memory.buffer, textPtr, chunk.text.length).fill(0);
      api._free(textPtr);
      chunk.text.fill(0);
      chunk.num.fill(0);
    }
  }

  /** Finalize the statements (before the database is closed). */
  close(): void {
    this.api._sqlite3_finalize(this.many);
    this.api._sqlite3_finalize(this.one);
  }

  /**
   * An insertion order for a chunk's rows with equal key values next to each other (rows of a key in
   * dataset order), and where each row's text starts in `chunk.text`. Equal values are found by a hash of
   * their bytes: two keys sharing a hash only share a run (any order inserts the same rows).
   */
  private orderByKey(c: EncodedChunk): { order: Int32Array; starts: Int32Array } {
    const w = this.width;
    const isKey = Array.from({ length: w }, (_, j) => this.keyColumns.includes(j));
    const starts = new Int32Array(c.rows);
    const codes = new Int32Array(c.rows);
    const codeOf = new Map<number, number>();
    const counts: number[] = [];
    let off = 0;
    for (let r = 0; r < c.rows; r++) {
      starts[r] = off;
      const base = r * w;
      let h = 0x811c9dc5; // FNV-1a over the key values' bytes (or number bits): only to group rows, not a security function
      for (let j = 0; j < w; j++) {
        const n = c.len[base + j]!;
        if (isKey[j]) {
          if (n >= 0) for (let i = off; i < off + n; i++) h = Math.imul(h ^ c.text[i]!, 0x01000193);
          else h = Math.imul(h ^ ((n === NUMBER_SLOT ? c.num[base + j]! * 1000003 : n) | 0), 0x01000193);
          h = Math.imul(h ^ 0xff, 0x01000193); // value separator
        }
        if (n > 0) off += n;
      }
      let code = codeOf.get(h);
      if (code === undefined) {
        codeOf.set(h, (code = counts.length));
        counts.push(0);
      }
      codes[r] = code;
      counts[code]!++;
    }
    const next = new Int32Array(counts.length);
    for (let k = 1; k < counts.length; k++) next[k] = next[k - 1]! + counts[k - 1]!;
    const order = new Int32Array(c.rows);
    for (let r = 0; r < c.rows; r++) order[next[codes[r]!]!++] = r;
    return { order, starts };
  }

  private bindRow(stmt: number, first: number, c: EncodedChunk, r: number, rowNumber: number, textPtr: number, off: number): number {
    const api = this.api;
    const w = this.width;
    const idCol = this.bound ? this.bound.column : -1;
    api._sqlite3_bind_int(stmt, first + 1, rowNumber);
    const base = r * w;
    for (let j = 0; j < w; j++) {
      const n = c.len[base + j]!;
      const i = first + 2 + j;
      if (n >= 0) {
        api._sqlite3_bind_text(stmt, i, textPtr + off, n, SQLITE_STATIC);
        if (j === idCol) this.bound!.rows.addBytes(c.text, off, off + n);
        off += n;
      } else if (n === NUMBER_SLOT) {
        const v = c.num[base + j]!;
        if (v === (v | 0)) api._sqlite3_bind_int(stmt, i, v);
        else api._sqlite3_bind_double(stmt, i, v);
        if (j === idCol) this.bound!.rows.addNumber(v);
      } else if (n === NULL_SLOT) {
        api._sqlite3_bind_text(stmt, i, 0, 0, SQLITE_STATIC); // a NULL pointer binds NULL (sqlite3_bind_text)
        if (j === idCol) this.bound!.rows.nullRows++;
      } else {
        throw new DomainError('row-chunk-invalid', 'an encoded row chunk has an unknown slot kind');
      }
    }
    return off;
  }

  private step(stmt: number, rows: number): void {
    const rc = this.api._sqlite3_step(stmt);
    this.api._sqlite3_reset(stmt);
    if (rc !== SQLITE_DONE) this.fail(rc);
    if (this.api._sqlite3_changes(this.dbPtr) !== rows) {
      throw new DomainError('sql-execution-failed', 'loading the rows failed: a row was not inserted');
    }
  }

  private prepare(sql: string): number {
    const api = this.api;
    const bytes = new TextEncoder().encode(sql);
    const p = api._malloc(bytes.length + 1 + 8);
    if (p === 0) throw new DomainError('sql-resource-limit', 'the SQL sandbox could not allocate memory');
    try {
      const heap = new Uint8Array(this.memory.buffer);
      heap.set(bytes, p);
      heap[p + bytes.length] = 0;
      const out = (p + bytes.length + 1 + 3) & ~3;
      const rc = api._sqlite3_prepare_v2(this.dbPtr, p, -1, out, 0);
      if (rc !== 0) this.fail(rc);
      return new DataView(this.memory.buffer).getInt32(out, true);
    } finally {
      api._free(p);
    }
  }

  private fail(rc: number): never {
    // the table is held in SQLite's heap (cache_spill off), so a dataset larger than its limit ends here
    if (rc === SQLITE_NOMEM || rc === SQLITE_FULL) {
      throw new DomainError('sql-resource-limit', `the dataset's rows do not fit the SQL sandbox's memory limit (after ${this.rowId} rows); ask for fewer columns or a smaller dataset version`);
    }
    const msg = this.api.UTF8ToString(this.api._sqlite3_errmsg(this.dbPtr));
    throw new DomainError('sql-execution-failed', `loading the rows failed (SQLite code ${rc}): ${msg}`.slice(0, 300)); // as sql.js reported it
  }
}
