import { getHeapStatistics } from 'node:v8';
import type { Database } from 'sql.js';
import { keptRows, lookupRows, PersonPass, PersonRowCap, SubjectRowBound } from './raw-load.js';
import { PartialMerge } from './partition-merge.js';
import { compileCheck } from './compile-check.js';
import type { SandboxJob, SandboxReply, SandboxStats } from './protocol.js';
import { chunkFeed, type ChunkSource } from './chunk-source.js';
import { errorOf, mergedQuery, partialOf, SliceDb, sqlType, wholeQuery, type ExecResult, type SqlWasm } from './slice-db.js';
import { SliceThread, type SliceDone, type SliceJob, type SliceStats } from './slice-threads.js';

/**
 * A SQL job over its chunk source: one database, or slices (one after another here, or in slice threads)
 * merged exactly, in one pass or one per share of the people; the per-person row cap and the subject bound
 * decided in dataset order; only the result's rows and the run's stats answered.
 */

/** The identifier's position among the loaded columns when k is decided by row-count bounds (it must be TEXT), else -1. */
function boundColumnOf(job: SandboxJob): number {
  const c = job.minSubjects !== undefined && job.executedWithoutSubjects ? job.columns.findIndex((x) => x.role === 'identifier') : -1;
  return c >= 0 && sqlType(job.columns[c]!.type) === 'TEXT' ? c : -1;
}

/** The per-person row cap of the job (on the identifier; without one every row is a person). */
function capOf(job: SandboxJob): PersonRowCap | undefined {
  const c = job.maxRowsPerPerson !== undefined ? job.columns.findIndex((x) => x.role === 'identifier') : -1;
  return c >= 0 ? new PersonRowCap(c, job.maxRowsPerPerson!) : undefined;
}

/** The job's first person pass (of SandboxJob.personPasses, or its share's passList), or none: one pass over every person. */
function passOf(job: SandboxJob): PersonPass | undefined {
  const passes = job.personPasses ?? 1;
  return passes > 1 && job.partition && job.sliceRows !== undefined && job.columns.some((c) => c.role === 'identifier') ? new PersonPass(job.passList?.[0] ?? 0, passes) : undefined;
}

/** The pass after `pass`: the next of its share's list, else the next index. */
function nextPass(job: SandboxJob, pass: PersonPass): number {
  if (!job.passList) return pass.index + 1;
  return job.passList[job.passList.indexOf(pass.index) + 1]!;
}

/** A share's answer (SandboxJob.partialOut): its merged partials and its stats, no output computed. */
function shareAnswer(merge: PartialMerge, stats: SandboxStats): SandboxReply {
  return { ok: true, columns: [], rows: [], partial: merge.snapshot(), stats };
}

const SPLIT_BY_PERSON_UNSUPPORTED = { type: 'sql-partition-unsupported', message: 'identifier values that are not 32-bit integers: people cannot be counted slice by slice' };

/** The answer of a run: the result's rows, and the stats that do not depend on how its slices were run beside `stats`. */
function answerOf(
  job: SandboxJob,
  source: ChunkSource,
  out: { res: ExecResult; subjectsCount: 'exact' | 'bound' },
  run: { rowsLoaded: number; cap: PersonRowCap | undefined; capMs: number; waitMs: number },
  stats: Omit<SandboxStats, 'rowsLoaded' | 'unsealMs' | 'envKeys' | 'jsHeapPeakMallocedBytes'>,
): SandboxReply {
  const heap = getHeapStatistics();
  return {
    ok: true,
    columns: out.res?.columns ?? [],
    rows: (out.res?.values ?? []) as (string | number | null)[][],
    stats: {
      rowsLoaded: run.rowsLoaded,
      ...(job.maxRowsPerPerson !== undefined ? { rowsCapped: run.cap?.dropped ?? 0, capMs: run.capMs, ...(run.cap ? { personTableBytes: run.cap.bytes() } : {}) } : {}),
      unsealMs: source.unsealMs(),
      unsealWaitMs: run.waitMs,
      unsealThread: job.unsealHelper ? 'helper' : 'worker',
      subjectsCount: out.subjectsCount,
      ...stats,
      jsHeapBytes: Math.max(stats.jsHeapBytes, heap.used_heap_size),
      jsHeapPeakMallocedBytes: heap.peak_malloced_memory,
      envKeys: Object.keys(process.env).length,
    },
  };
}

export async function run(sql: SqlWasm, job: SandboxJob, source: ChunkSource): Promise<SandboxReply> {
  // a query SQLite does not compile is refused before the first chunk is opened (compile-check.ts)
  let refused: { type: string; message: string } | undefined;
  try {
    refused = compileCheck(sql, job);
  } catch (e) {
    refused = errorOf(e, false);
  }
  if (refused) {
    source.close();
    chunkFeed.wipe();
    return { ok: false, error: refused };
  }
  if (job.sliceThreads && job.partition && job.sliceRows !== undefined) return runParallel(sql, job, job.sliceThreads, source);
  const t0 = performance.now();
  let slice: SliceDb | undefined;
  let finalDb: Database | undefined;
  let subjectBound: SubjectRowBound | undefined;
  let cap: PersonRowCap | undefined;
  /** the buyer's query is running over the loaded rows (its errors are about the data) */
  let querying = false;
  try {
    // k on people decided from row counts when it can be (see SubjectRowBound): the identifier must be TEXT
    const boundCol = boundColumnOf(job);
    if (boundCol >= 0) subjectBound = new SubjectRowBound();
    // each person's rows beyond the first m (dataset order) are skipped while loading, never inserted;
    // without an identifier every row is a person and nothing is skipped
    cap = capOf(job);
    const boundSpec = subjectBound ? { column: boundCol, rows: subjectBound } : undefined;
    // split by person: the cap and the bound are decided here on each pass's rows (keptRows), not by the loader
    const pass = passOf(job);
    const idCol = job.columns.findIndex((c) => c.role === 'identifier');
    const newSlice = (startRow: number): SliceDb => (pass ? new SliceDb(sql, job, startRow) : new SliceDb(sql, job, startRow, boundSpec, cap));
    // a lookup by identifier (verify, never capped nor sliced) loads only the rows its query can read
    const lookup = job.lookup && !cap && !subjectBound && !job.partition ? new TextEncoder().encode(job.lookup.text) : undefined;
    slice = newSlice(0);
    let capMs = 0;
    let heapPeak = 0;
    let loadMs = 0;
    let waitMs = 0;
    // Partitioned: once a slice holds sliceRows rows and more chunks follow, its partial aggregates are
    // merged and a fresh database takes the next slice (the row cap and the subject bound go on across
    // slices in dataset order, so they are the single database's). One slice: the single database's path.
    // Split by person: every pass starts a slice, and a slice is cut on the rows it holds.
    const sliceRows = job.partition && job.sliceRows !== undefined ? job.sliceRows : Infinity;
    let merge: PartialMerge | undefined = pass ? new PartialMerge(job.partition!) : undefined;
    let sliceStart = 0;
    let sliceHeld = 0;
    let chunksRead = 0;
    // a row cap of one: a group's people are its rows with an identifier (no identifier sets to merge), as long
    // as the cap's notion of one person is SQLite's one value (worker checks PersonRowCap.numbersApart)
    const onePerPerson = job.maxRowsPerPerson === 1 && cap !== undefined;
    /** the slice's partials into the merge, its database dropped (not the run's last: a fresh one follows) */
    const closeSlice = (): void => {
      querying = true;
      merge ??= new PartialMerge(job.partition!);
      slice!.endLoad();
      const p = partialOf(slice!.db, job.partition!, onePerPerson);
      merge.add(p.partial, p.pairs);
      slice!.drop();
      slice!.close();
      capMs += slice!.capMs;
      querying = false;
    };
    let pending: Awaited<ReturnType<ChunkSource['next']>> = null;
    for (;;) {
      const w0 = performance.now();
      const chunk = pending ?? (await source.next());
      pending = null;
      const l0 = performance.now();
      waitMs += l0 - w0;
      if (!chunk) break;
      if (pass && chunksRead > 0 && chunksRead % job.chunkCount === 0) {
        // the next pass: its own people, from the dataset's first row again
        closeSlice();
        merge!.endPass();
        slice = undefined;
        pass.index = nextPass(job, pass);
        cap?.wipe();
        slice = newSlice(0);
        sliceStart = 0;
        sliceHeld = 0;
      }
      chunksRead++;
      if (lookup) slice.load(chunk, lookupRows(chunk, job.columns.length, job.lookup!.column, lookup));
      else if (pass) {
        const kept = keptRows(chunk, job.columns.length, idCol, cap, subjectBound, undefined, pass)!;
        capMs += performance.now() - l0;
        sliceHeld += kept.length;
        slice.load(chunk, kept);
      } else slice.load(chunk);
      heapPeak = Math.max(heapPeak, getHeapStatistics().used_heap_size);
      loadMs += performance.now() - l0;
      if (pass) {
        if (sliceHeld >= sliceRows && chunksRead % job.chunkCount !== 0) {
          const s0 = performance.now();
          closeSlice();
          sliceStart = slice.rowsLoaded;
          sliceHeld = 0;
          slice = undefined;
          slice = newSlice(sliceStart);
          loadMs += performance.now() - s0;
        }
      } else if (slice.rowsLoaded - sliceStart >= sliceRows) {
        const w1 = performance.now();
        pending = await source.next();
        waitMs += performance.now() - w1;
        if (pending) {
          // this slice's partials into the merge, and its database replaced by an empty one
          const s0 = performance.now();
          closeSlice();
          sliceStart = slice.rowsLoaded;
          slice = undefined;
          slice = newSlice(sliceStart);
          loadMs += performance.now() - s0;
        }
      }
    }
    slice.endLoad();
    const rowsLoaded = slice.rowsLoaded;
    capMs += slice.capMs;
    const tableLayout = slice.clustered ? 'clustered' : 'rowid';
    cap?.wipe();

    querying = true;
    const q0 = performance.now();
    let out: { res: ExecResult; subjectsCount: 'exact' | 'bound' };
    if (merge) {
      const p = partialOf(slice.db, job.partition!, onePerPerson);
      merge.add(p.partial, p.pairs);
      merge.endPass();
      slice.drop();
      if ((onePerPerson && cap?.numbersApart) || pass?.numbersApart) return { ok: false, error: SPLIT_BY_PERSON_UNSUPPORTED };
      if (job.partialOut) out = { res: undefined, subjectsCount: 'exact' }; // a share: the coordinator computes the outputs
      else {
        finalDb = new sql.SQL.Database();
        out = mergedQuery(merge, finalDb, job, onePerPerson, subjectBound);
      }
    } else {
      out = wholeQuery(slice.db, job, subjectBound);
      slice.drop(); // secure_delete zeroes the freed pages (in the page cache)
    }
    subjectBound?.wipe();
    const a = answerOf(job, source, out, { rowsLoaded, cap, capMs, waitMs }, {
      ...(job.partition && job.sliceRows !== undefined ? { slices: merge?.slices ?? 1 } : {}),
      ...(pass ? { personPasses: pass.count } : {}),
      ...(!job.partition && job.sliceRows !== undefined && rowsLoaded > job.sliceRows ? { partitionFallback: 'the query does not decompose into per-slice aggregates: one database' } : {}),
      tableLayout,
      loadMs,
      queryMs: performance.now() - q0,
      totalMs: performance.now() - t0,
      jsHeapBytes: heapPeak,
      wasmMemoryBytes: sql.memory.buffer.byteLength,
    });
    return job.partialOut && merge && a.ok ? shareAnswer(merge, a.stats) : a;
  } catch (e) {
    return { ok: false, error: errorOf(e, querying) };
  } finally {
    cap?.wipe();
    subjectBound?.wipe();
    source.close();
    slice?.close();
    finalDb?.close();
    chunkFeed.wipe();
  }
}

/**
 * A partitioned run over several slice threads at once (SandboxJob.sliceThreads). This thread reads the
 * opened chunks in dataset order, decides the per-person row cap and counts the subject bound on them (both
 * the dataset's, in order, as in one database), cuts the slices where the one-thread run cuts them, and
 * posts each slice's rows to a free slice thread, each loading its slice into a fresh database of its own
 * sql.js (memory bounded by the slice size). The partials are merged in slice order, so the result is the
 * one-thread run's to the last bit; a run of one slice answers the single database's query.
 */
async function runParallel(sql: SqlWasm, job: SandboxJob, threads: NonNullable<SandboxJob['sliceThreads']>, source: ChunkSource): Promise<SandboxReply> {
  const t0 = performance.now();
  const cols = job.columns;
  const partition = job.partition!;
  const sliceRows = job.sliceRows!;
  const cap = capOf(job);
  const bound = boundColumnOf(job) >= 0 ? new SubjectRowBound() : undefined;
  const pass = passOf(job);
  // the cap, the bound and the passes are all on the identifier
  const idCol = cols.findIndex((c) => c.role === 'identifier');
  const onePerPerson = job.maxRowsPerPerson === 1 && cap !== undefined;
  const sliceJob: SliceJob = {
    kind: 'slice',
    columns: cols,
    ...(job.clusterBy ? { clusterBy: job.clusterBy } : {}),
    sqliteHeapLimitBytes: job.sqliteHeapLimitBytes,
    wasmModule: job.wasmModule,
    partition,
    onePerPerson,
    executed: job.executed,
    ...(job.executedWithoutSubjects !== undefined ? { executedWithoutSubjects: job.executedWithoutSubjects, minSubjects: job.minSubjects } : {}),
  };
  // one thread at once (it starts while the first chunks open), another only when a slice finds all busy
  const newThread = (): SliceThread => new SliceThread(threads.source, threads.resourceLimits, sliceJob);
  const pool = [newThread()];
  const merge = new PartialMerge(partition);
  /** each slice's answer, merged in slice order as soon as the ones before it are */
  const answers: Promise<SliceDone>[] = [];
  const done: (SliceDone | undefined)[] = [];
  let merged = 0;
  const sliceStats: SliceStats[] = [];
  /** the answers that end a person pass (their people are in no later slice) */
  const passEnds = new Set<number>();
  const drain = (): void => {
    while (merged < answers.length && done[merged]) {
      const d = done[merged]!;
      done[merged] = undefined;
      sliceStats.push(d.stats);
      if (!d.whole) merge.add(d.partial, d.pairs);
      if (passEnds.has(merged)) merge.endPass();
      merged++;
    }
  };
  let querying = false;
  let finalDb: Database | undefined;
  try {
    let current: SliceThread | null = null;
    let sliceStart = 0;
    let rowsSoFar = 0;
    let capMs = 0;
    let waitMs = 0;
    /** split by person: rows the current slice holds, and chunks read (every pass reads them all) */
    let sliceHeld = 0;
    let chunksRead = 0;
    /** a free thread (its last slice answered, or a new one while fewer than asked for), the answers so far merged */
    const freeThread = async (): Promise<SliceThread> => {
      for (;;) {
        const free = pool.find((t) => !t.busy);
        if (free) return free;
        if (pool.length < threads.threads) {
          pool.push(newThread());
          continue;
        }
        await Promise.race(pool.map((t) => t.busy!));
        drain();
      }
    };
    const begin = async (startRow: number): Promise<SliceThread> => {
      const t = await freeThread();
      const i = answers.length;
      const a = t.begin(startRow);
      answers.push(a);
      a.then(
        (d) => void (done[i] = d),
        () => undefined,
      );
      sliceStart = startRow;
      sliceHeld = 0;
      return t;
    };
    for (;;) {
      const w0 = performance.now();
      const chunk = await source.next();
      waitMs += performance.now() - w0;
      if (!chunk) break;
      if (pass && chunksRead > 0 && chunksRead % job.chunkCount === 0) {
        // the next pass: its own people, from the dataset's first row again
        passEnds.add(answers.length - 1);
        current!.end();
        current = null;
        pass.index = nextPass(job, pass);
        cap?.wipe();
        rowsSoFar = 0;
      }
      chunksRead++;
      if (current && (pass ? sliceHeld : rowsSoFar - sliceStart) >= sliceRows) {
        current.end();
        current = null;
      }
      current ??= await begin(rowsSoFar);
      const c0 = performance.now();
      const kept = cap || bound || pass ? keptRows(chunk, cols.length, idCol, cap, bound, undefined, pass) : null;
      capMs += performance.now() - c0;
      rowsSoFar += chunk.rows;
      sliceHeld += kept ? kept.length : chunk.rows;
      current.send(chunk, kept);
    }
    current ??= await begin(0); // no rows at all: one empty database answers
    const whole = answers.length === 1 && !pass;
    passEnds.add(answers.length - 1);
    current.end(whole ? { bound: bound ? { nullRows: bound.nullRows, most: bound.maxRowsPerSubject(), usable: bound.usable } : null } : undefined);
    querying = true;
    const last = await answers.at(-1)!;
    await Promise.all(answers);
    drain();
    const q0 = performance.now();
    let out: { res: ExecResult; subjectsCount: 'exact' | 'bound' };
    if (whole) out = last.whole!;
    else {
      if ((onePerPerson && cap?.numbersApart) || pass?.numbersApart) return { ok: false, error: SPLIT_BY_PERSON_UNSUPPORTED };
      if (job.partialOut) out = { res: undefined, subjectsCount: 'exact' }; // a share: the coordinator computes the outputs
      else {
        finalDb = new sql.SQL.Database();
        out = mergedQuery(merge, finalDb, job, onePerPerson, bound);
      }
    }
    const a = answerOf(job, source, out, { rowsLoaded: rowsSoFar, cap, capMs, waitMs }, {
      slices: answers.length,
      ...(pass ? { personPasses: pass.count } : {}),
      threads: pool.length,
      tableLayout: last.stats.tableLayout,
      loadMs: sliceStats.reduce((n, s) => n + s.loadMs, 0),
      queryMs: (whole ? last.stats.queryMs : 0) + performance.now() - q0,
      totalMs: performance.now() - t0,
      jsHeapBytes: Math.max(...sliceStats.map((s) => s.jsHeapBytes)),
      // the SQLite memory of one slice thread at its peak: each thread's wasm memory only grows
      wasmMemoryBytes: Math.max(...sliceStats.map((s) => s.wasmMemoryBytes)),
    });
    return job.partialOut && !whole && a.ok ? shareAnswer(merge, a.stats) : a;
  } catch (e) {
    return { ok: false, error: errorOf(e, querying) };
  } finally {
    for (const t of pool) t.terminate();
    cap?.wipe();
    bound?.wipe();
    source.close();
    finalDb?.close();
    chunkFeed.wipe();
  }
}
