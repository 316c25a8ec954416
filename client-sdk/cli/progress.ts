import cliProgress from 'cli-progress';

/**
 * Progress for long work (checking, sealing, uploading): a cli-progress bar on stderr, shown only
 * when stderr is a terminal or SHUYU_PROGRESS=1 forces it, so `--json` stdout stays machine-clean
 * and CI logs stay quiet. Always measures throughput so the command can report rows/s or MB/s.
 */

export interface Progress {
  /** set the absolute amount done (and optionally a new total) */
  update(done: number, total?: number): void;
  /** finish; returns the amount done, elapsed seconds and the rate per second */
  stop(): { done: number; seconds: number; perSecond: number };
}

export function progressEnabled(force?: boolean): boolean {
  if (force !== undefined) return force;
  if (process.env.SHUYU_PROGRESS === '1') return true;
  if (process.env.SHUYU_PROGRESS === '0') return false;
  return Boolean(process.stderr.isTTY);
}

export function startProgress(label: string, total: number, unit = 'rows', force?: boolean): Progress {
  const started = performance.now();
  let done = 0;
  let bar: cliProgress.SingleBar | undefined;
  if (progressEnabled(force)) {
    bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | eta {eta_formatted}`,
        hideCursor: true,
        // when forced on a non-terminal, still draw (cli-progress stays silent otherwise)
        noTTYOutput: !process.stderr.isTTY,
        notTTYSchedule: 1000,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(total, 1), 0, { rate: 0 });
  }
  const rate = (): number => {
    const s = (performance.now() - started) / 1000;
    return s > 0 ? Math.round(done / s) : 0;
  };
  return {
    update(n, newTotal) {
      done = n;
      if (bar) {
        if (newTotal !== undefined) bar.setTotal(Math.max(newTotal, 1));
        bar.update(n, { rate: rate() });
      }
    },
    stop() {
      const seconds = (performance.now() - started) / 1000;
      if (bar) {
        bar.update(done, { rate: rate() });
        bar.stop();
      }
      return { done, seconds, perSecond: seconds > 0 ? done / seconds : 0 };
    },
  };
}
