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
const utf8 = new TextEncoder();

/**
 * Rows per identifier value, counted in a fixed table indexed by a hash of the value's bytes: values that
 * share a slot are counted together, so the largest count is an upper bound on the rows any one subject has
 * (never below it). With it, a group of n rows with an identifier has at least ⌈(n − rows without one) / max⌉
 * distinct identifiers: enough to decide k without counting them exactly (see slice-db.ts decideKByBounds).
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

/**
 * The bytes that stand for a number identifier, one person's identity for the row cap and the passes: a
 * 32-bit integer is its decimal digits (the text SQLite's TEXT column stores for it, so it is the same person
 * as that string); any other number is its JS text after 0xff, a byte that never occurs in UTF-8 text, so it
 * is apart from every string.
 */
function numberIdentity(v: number): Uint8Array {
  if (v === (v | 0)) return utf8.encode(String(v));
  const t = utf8.encode(` ${String(v)}`);
  t[0] = 0xff;
  return t;
}

/**
 * The per-person row cap of a release (exact or DP), decided row by row while loading: a row is kept when it is
 * among the first `m` rows (in dataset order) of its identifier value, and the others are never inserted.
 * A row without an identifier is a person of its own (always kept). Values are compared as the TEXT column
 * stores them: a string by its UTF-8 bytes, a 32-bit integer by its decimal digits (the text SQLite stores
 * for it); any other number by its JS text, apart from every string. The counts are kept in an
 * open-addressing table over the values' bytes (exact: equal hashes are compared byte by byte), so no
 * string is made per row, and the bytes it holds are zeroed by `wipe()`.
 */
export class PersonRowCap {
  /** rows not loaded because their person already had `m` */
  dropped = 0;
  /**
   * a number that is not a 32-bit integer was counted: apart from every string here, but SQLite's TEXT
   * column may store it as the same text as another value (so one person here is not one value there)
   */
  numbersApart = false;
  // open addressing, two ints a slot: the value's hash and its entry + 1 (0: empty), so a probe reads one
  // cache line; an entry is three ints: where its bytes start in `arena`, their length, its row count
  private slots = new Int32Array(2 << 12);
  private entry = new Int32Array(3 << 11);
  private arena = new Uint8Array(1 << 14); // the distinct values' bytes, one after another
  private used = 0;
  private entries = 0;

  /**
   * @param column the identifier's position among the loaded columns
   * @param m rows kept per person (≥ 1)
   */
  constructor(
    readonly column: number,
    private readonly m: number,
  ) {
    if (!Number.isInteger(m) || m < 1) throw new DomainError('sql-sandbox-failed', 'the rows kept per person must be a positive integer');
  }

  /** Count the row whose identifier is the text `bytes[from, to)`; whether it is kept. */
  keepText(bytes: Uint8Array, from: number, to: number): boolean {
    if (this.add(bytes, from, to) <= this.m) return true;
    this.dropped++;
    return false;
  }

  /** Count the row whose identifier is the number `v` (see the class comment for its identity). */
  keepNumber(v: number): boolean {
    if (v !== (v | 0)) this.numbersApart = true;
    const t = numberIdentity(v);
    return this.keepText(t, 0, t.length);
  }

  /** The table's size now (it only grows: after the run, its peak), what SandboxJob.personPasses bounds. */
  bytes(): number {
    return this.slots.byteLength + this.entry.byteLength + this.arena.byteLength;
  }

  /** Forget every value (its bytes zeroed). */
  wipe(): void {
    this.arena.fill(0);
    this.slots.fill(0);
    this.entry.fill(0);
    this.entries = 0;
    this.used = 0;
  }

  /** Rows counted so far for the value `b[from, to)`, this one included. */
  private add(b: Uint8Array, from: number, to: number): number {
    let h = 0x811c9dc5; // FNV-1a then a final mix: a spreading hash for the table, not a security function
    for (let i = from; i < to; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    const n = to - from;
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    let s = h & mask;
    for (;;) {
      const e = slots[2 * s + 1]! - 1;
      if (e < 0) break;
      if (slots[2 * s] === h && this.entry[3 * e + 1] === n) {
        const a = this.arena;
        const st = this.entry[3 * e]! - from;
        let k = from;
        while (k < to && a[st + k] === b[k]) k++;
        if (k === to) return ++this.entry[3 * e + 2]!;
      }
      s = (s + 1) & mask;
    }
    const e = this.entries++;
    if (3 * e + 3 > this.entry.length) {
      const grown = new Int32Array(2 * this.entry.length);
      grown.set(this.entry);
      this.entry = grown;
    }
    if (this.used + n > this.arena.length) {
      const a = new Uint8Array(Math.max(2 * this.arena.length, this.used + n));
      a.set(this.arena.subarray(0, this.used));
      this.arena.fill(0);
      this.arena = a;
    }
    const a = this.arena;
    for (let i = from, o = this.used; i < to; i++, o++) a[o] = b[i]!; // short values: cheaper than a subarray object
    this.entry[3 * e] = this.used;
    this.entry[3 * e + 1] = n;
    this.entry[3 * e + 2] = 1;
    this.used += n;
    slots[2 * s] = h;
    slots[2 * s + 1] = e + 1;
    if (4 * this.entries > slots.length) this.rehash();
    return 1;
  }

  /** Twice the slots (at most half of them used), every entry placed again by its hash. */
  private rehash(): void {
    const old = this.slots;
    const slots = new Int32Array(2 * old.length);
    const mask = (slots.length >> 1) - 1;
    for (let t = 0; t < old.length; t += 2) {
      if (old[t + 1] === 0) continue;
      let s = old[t]! & mask;
      while (slots[2 * s + 1] !== 0) s = (s + 1) & mask;
      slots[2 * s] = old[t]!;
      slots[2 * s + 1] = old[t + 1]!;
    }
    this.slots = slots;
  }
}

/**
 * One pass of a run split by person (SandboxJob.personPasses): pass `index` of `count` reads every chunk and
 * keeps only the people whose identifier hashes to it, so the state kept per person (the row cap's table,
 * the identifier sets of k) holds about 1/count of them, and no person is in two passes. A value's identity
 * is the row cap's (PersonRowCap): a string's UTF-8 bytes, a 32-bit integer's decimal digits; rows without
 * an identifier (each a person of its own) all belong to pass 0.
 */
export class PersonPass {
  /** a number that is not a 32-bit integer was met: SQLite may store it as another value's text (see PersonRowCap) */
  numbersApart = false;

  constructor(
    public index: number,
    readonly count: number,
  ) {}

  ownsText(b: Uint8Array, from: number, to: number): boolean {
    let h = 0x9747b28c; // FNV-1a with another basis than the cap's table, then a final mix: spreads, not a security function
    for (let i = from; i < to; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    return (h >>> 0) % this.count === this.index;
  }

  ownsNumber(v: number): boolean {
    if (v !== (v | 0)) this.numbersApart = true;
    const t = numberIdentity(v);
    return this.ownsText(t, 0, t.length);
  }
}

/**
 * The rows of chunk `c` (`width` columns) the per-person cap keeps, in dataset order (null without a cap or
 * a pass: every row), each kept row's value of `column` (the identifier) counted into `bound`; `starts`, when
 * given, receives every row's text offset on the way. The cap and the bound are the dataset's, decided in
 * order. With `pass`, only the rows of that pass's people are seen at all (by the cap and the bound too).
 */
export function keptRows(
  c: EncodedChunk,
  width: number,
  column: number,
  cap: PersonRowCap | undefined,
  bound: SubjectRowBound | undefined,
  starts?: Int32Array,
  pass?: PersonPass,
): Int32Array | null {
  const kept = cap || pass ? new Int32Array(c.rows) : null;
  let count = 0;
  let off = 0;
  for (let r = 0; r < c.rows; r++) {
    if (starts) starts[r] = off;
    const base = r * width;
    let keep = true;
    for (let j = 0; j < width; j++) {
      const n = c.len[base + j]!;
      if (j === column) {
        // a row without an identifier is a person of its own: always kept (in pass 0)
        if (n >= 0) {
          if (pass) keep = pass.ownsText(c.text, off, off + n);
          if (keep && cap) keep = cap.keepText(c.text, off, off + n);
          if (keep) bound?.addBytes(c.text, off, off + n);
        } else if (n === NUMBER_SLOT) {
          const v = c.num[base + j]!;
          if (pass) keep = pass.ownsNumber(v);
          if (keep && cap) keep = cap.keepNumber(v);
          if (keep) bound?.addNumber(v);
        } else {
          if (pass) keep = pass.index === 0;
          if (keep && bound) bound.nullRows++;
        }
      }
      if (n > 0) off += n;
    }
    if (keep && kept) kept[count++] = r;
  }
  return kept ? kept.subarray(0, count) : null;
}

/**
 * The rows of chunk `c` whose value of `column` is stored as the text `want` (UTF-8 bytes): a string with
 * those bytes, or a 32-bit integer whose decimal digits they are (the text a TEXT column stores for it). Any
 * other number is kept too — SQLite's text for it is SQLite's to decide — and NULL never matches.
 */
export function lookupRows(c: EncodedChunk, width: number, column: number, want: Uint8Array): Int32Array {
  const kept = new Int32Array(c.rows);
  const wantText = utf8Decoder.decode(want);
  let count = 0;
  let off = 0;
  for (let r = 0; r < c.rows; r++) {
    const base = r * width;
    for (let j = 0; j < width; j++) {
      const n = c.len[base + j]!;
      if (j === column) {
        let keep = false;
        if (n === want.length) {
          keep = true;
          for (let k = 0; k < n && keep; k++) keep = c.text[off + k] === want[k];
        } else if (n === NUMBER_SLOT) {
          const v = c.num[base + j]!;
          keep = v !== (v | 0) || String(v) === wantText;
        }
        if (keep) kept[count++] = r;
      }
      if (n > 0) off += n;
    }
  }
  return kept.subarray(0, count);
}
const utf8Decoder = new TextDecoder();

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
    /** the per-person row cap (rows beyond it are counted and skipped, never inserted) */
    private readonly cap?: PersonRowCap,
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

  /** time spent deciding the per-person row cap (included in the callers' load time) */
  capMs = 0;

  /**
   * Insert one chunk's rows (numbered on from the previous chunk's, skipped rows included: a row's number is
   * its position in the dataset); the chunk's bytes in wasm memory are zeroed after. `kept`: the rows a cap
   * decided elsewhere keeps (keptRows; null: every row), instead of this loader's own cap.
   */
  load(chunk: EncodedChunk, kept?: Int32Array | null): void {
    const api = this.api;
    const w = this.width;
    const textPtr = api._malloc(Math.max(1, chunk.text.length));
    if (textPtr === 0) throw new DomainError('sql-resource-limit', 'the SQL sandbox could not allocate memory for a row chunk');
    try {
      new Uint8Array(this.memory.buffer, textPtr, chunk.text.length).set(chunk.text);
      const first = this.rowId + 1;
      let r = 0;
      if ((kept === null || (kept === undefined && !this.cap)) && this.keyColumns.length === 0) {
        // every row, in order: text offsets follow from the rows bound before
        let off = 0;
        const full = chunk.rows - (chunk.rows % this.batch);
        for (; r < full; r += this.batch) {
          for (let k = 0; k < this.batch; k++) off = this.bindRow(this.many, k * (w + 1), chunk, r + k, first + r + k, textPtr, off);
          this.step(this.many, this.batch);
        }
        for (; r < chunk.rows; r++) {
          off = this.bindRow(this.one, 0, chunk, r, first + r, textPtr, off);
          this.step(this.one, 1);
        }
      } else {
        const { order, count, starts } = this.insertionOrder(chunk, kept);
        const full = count - (count % this.batch);
        for (; r < full; r += this.batch) {
          for (let k = 0; k < this.batch; k++) {
            const row = order[r + k]!;
            this.bindRow(this.many, k * (w + 1), chunk, row, first + row, textPtr, starts[row]!);
          }
          this.step(this.many, this.batch);
        }
        for (; r < count; r++) {
          const row = order[r]!;
          this.bindRow(this.one, 0, chunk, row, first + row, textPtr, starts[row]!);
          this.step(this.one, 1);
        }
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
   * The rows of a chunk to insert, in insertion order (`order[0, count)`), and where each row's text starts
   * in `chunk.text`. With the row cap, only the rows it keeps (decided in dataset order); with `given`, the
   * rows kept by a cap decided elsewhere (null: every row). With key columns,
   * rows with equal key values next to each other (rows of a key in dataset order); equal values are found
   * by a hash of their bytes: two keys sharing a hash only share a run (any order inserts the same rows).
   */
  private insertionOrder(c: EncodedChunk, given: Int32Array | null | undefined): { order: Int32Array; count: number; starts: Int32Array } {
    const w = this.width;
    const starts = new Int32Array(c.rows);
    let kept: Int32Array | null = null;
    if (given !== undefined) {
      kept = given;
      if (kept) keptRows(c, w, -1, undefined, undefined, starts); // only the text offsets
    } else if (this.cap) {
      // the cap first, in dataset order, timed on its own
      const c0 = performance.now();
      kept = keptRows(c, w, this.cap.column, this.cap, undefined, starts);
      this.capMs += performance.now() - c0;
    }
    const count = kept ? kept.length : c.rows;
    if (kept && this.keyColumns.length === 0) return { order: kept, count, starts };
    // rows grouped by key (this.keyColumns is not empty here); without the cap, text offsets found on the way
    const isKey = Array.from({ length: w }, (_, j) => this.keyColumns.includes(j));
    const codes = new Int32Array(count);
    const codeOf = new Map<number, number>();
    const counts: number[] = [];
    let next = 0;
    for (let i = 0; i < count; i++) {
      const r = kept ? kept[i]! : i;
      const base = r * w;
      let off = kept ? starts[r]! : (starts[r] = next);
      let h = 0x811c9dc5; // FNV-1a over the key values' bytes (or number bits): only to group rows, not a security function
      for (let j = 0; j < w; j++) {
        const n = c.len[base + j]!;
        if (isKey[j]) {
          if (n >= 0) for (let t = off; t < off + n; t++) h = Math.imul(h ^ c.text[t]!, 0x01000193);
          else h = Math.imul(h ^ ((n === NUMBER_SLOT ? c.num[base + j]! * 1000003 : n) | 0), 0x01000193);
          h = Math.imul(h ^ 0xff, 0x01000193); // value separator
        }
        if (n > 0) off += n;
      }
      next = off;
      let code = codeOf.get(h);
      if (code === undefined) {
        codeOf.set(h, (code = counts.length));
        counts.push(0);
      }
      codes[i] = code;
      counts[code]!++;
    }
    const first = new Int32Array(counts.length);
    for (let k = 1; k < counts.length; k++) first[k] = first[k - 1]! + counts[k - 1]!;
    const order = new Int32Array(count);
    for (let i = 0; i < count; i++) order[first[codes[i]!]!++] = kept ? kept[i]! : i;
    return { order, count, starts };
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
