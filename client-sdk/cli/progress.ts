/**
 * Progress for long work (checking, sealing, uploading): one bar line on stderr, shown only when stderr
 * is a terminal or SHUYU_PROGRESS=1 forces it, so `--json` stdout stays machine-clean and CI logs stay
 * quiet. Amounts in people's units (rows with separators, bytes as KiB/MiB); no rate or time left is
 * shown until there is a measured second of work to estimate from. Always measures throughput so the
 * command can report rows/s or MiB/s.
 */

export interface Progress {
  /** set the absolute amount done (and optionally a new total) */
  update(done: number, total?: number): void;
  /** finish; returns the amount done, elapsed seconds and the rate per second */
  stop(): { done: number; seconds: number; perSecond: number };
}

export type Unit = 'rows' | 'bytes';

export function progressEnabled(force?: boolean): boolean {
  if (force !== undefined) return force;
  if (process.env.SHUYU_PROGRESS === '1') return true;
  if (process.env.SHUYU_PROGRESS === '0') return false;
  return Boolean(process.stderr.isTTY);
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB": three significant figures at most, binary prefixes (what file managers and `ls -h` show). */
export function bytes(n: number): string {
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < IEC.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${Math.round(v)} B`;
  return `${v >= 100 ? Math.round(v) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${IEC[i]}`;
}

/** An amount of a unit for people: "1,234,567 rows", "7.59 MiB". */
export const amount = (n: number, unit: Unit): string => (unit === 'bytes' ? bytes(n) : `${Math.round(n).toLocaleString('en')} rows`);

/** A rate for people: "7.59 MiB/s", "290,000 rows/s". */
export const rate = (perSecond: number, unit: Unit): string => `${amount(perSecond, unit)}/s`;

/** Seconds for people: "42s", "3m 05s", "1h 02m". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The bar's text at one moment; `seconds` since the start (no rate or eta before a second of data). */
export function progressLine(label: string, done: number, total: number, unit: Unit, seconds: number): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const width = 20;
  const filled = Math.round(fraction * width);
  const parts = [`${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`];
  parts.push(unit === 'bytes' ? `${bytes(done)} of ${bytes(total)}` : `${Math.round(done).toLocaleString('en')} of ${amount(total, unit)}`);
  if (seconds >= 1 && done > 0) {
    const perSecond = done / seconds;
    parts.push(rate(perSecond, unit));
    if (done < total) parts.push(`about ${duration((total - done) / perSecond)} left`);
  } else if (done < total) {
    parts.push('measuring speed…');
  }
  return parts.join(' · ');
}

export function startProgress(label: string, total: number, unit: Unit = 'rows', force?: boolean): Progress {
  const started = performance.now();
  const enabled = progressEnabled(force);
  const tty = Boolean(process.stderr.isTTY);
  let done = 0;
  let knownTotal = total;
  let lastDraw = -Infinity;
  let drawnDone = -1;
  let stopped = false;
  const draw = (final: boolean): void => {
    if (!enabled || stopped) return;
    // a log gets no second line for the same amount (the last update already said it)
    if (!tty && final && drawnDone === done) return;
    const now = performance.now();
    // a terminal redraws in place a few times a second; a log gets one line a second and the last one
    if (!final && now - lastDraw < (tty ? 100 : 1000)) return;
    lastDraw = now;
    drawnDone = done;
    const line = progressLine(label, done, knownTotal, unit, (now - started) / 1000);
    process.stderr.write(tty ? `\r\x1b[2K${line}${final ? '\n' : ''}` : `${line}\n`);
  };
  draw(false);
  return {
    update(n, newTotal) {
      done = n;
      if (newTotal !== undefined) knownTotal = newTotal;
      draw(false);
    },
    stop() {
      const seconds = (performance.now() - started) / 1000;
      draw(true);
      stopped = true;
      return { done, seconds, perSecond: seconds > 0 ? done / seconds : 0 };
    },
  };
}
