import type { DestinationStream } from 'pino';

/**
 * Log lines for a person at a terminal: pino's JSON records as "12:00:01 INFO  message  key=value", with the
 * listening line first (what a newcomer needs: the URL and the web console's address), the start-up lines
 * after it. Files and pipes keep JSON (server/start.ts picks this only when stdout is a terminal).
 */

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Record<number, string> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[31m' };
const OMIT = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

const value = (v: unknown): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
};

/** One JSON record as one line ("" for a line that is not JSON: passed through as it is). */
export function prettyLine(json: string, colour = false): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = typeof r.level === 'number' ? r.level : 30;
  const time = typeof r.time === 'string' ? r.time.slice(11, 19) : typeof r.time === 'number' ? new Date(r.time).toISOString().slice(11, 19) : '';
  const fields = Object.entries(r).filter(([k]) => !OMIT.has(k)).map(([k, v]) => `${k}=${value(v)}`);
  const head = `${time} ${LEVELS[level] ?? String(level)}`;
  const err = r.err && typeof r.err === 'object' ? ` — ${String((r.err as { message?: unknown }).message ?? '')}` : '';
  const line = `${head} ${String(r.msg ?? '')}${err}${fields.length ? `  ${fields.filter((f) => !f.startsWith('err=')).join(' ')}` : ''}`;
  return colour && COLOURS[level] ? `${COLOURS[level]}${line}\x1b[0m` : line;
}

/** The banner for the listening record: the API's URL and the console's address on one line. */
function banner(r: Record<string, unknown>): string {
  const url = String(r.url ?? '');
  return `Shuyu (数域) listening on ${url} — web console at ${String(r.console ?? `${url}/console/`)}  (data: ${String(r.dataDir ?? '')})`;
}

export function prettyDestination(out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): DestinationStream {
  const colour = Boolean(out.isTTY) && !process.env.NO_COLOR;
  // records before the server listens wait for its banner, so the first line says where it is
  let held: string[] | null = [];
  let partial = '';
  const emit = (text: string): void => {
    if (held) held.push(text);
    else out.write(`${text}\n`);
  };
  process.once('exit', () => {
    for (const h of held ?? []) out.write(`${h}\n`);
  });
  return {
    write(chunk: string): void {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) !== -1) {
        const json = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        let r: Record<string, unknown> | undefined;
        try {
          r = JSON.parse(json) as Record<string, unknown>;
        } catch {
          r = undefined;
        }
        if (held && r && typeof r.url === 'string' && typeof r.msg === 'string' && r.msg.startsWith('Shuyu listening')) {
          out.write(`${banner(r)}\n`);
          for (const h of held) out.write(`${h}\n`);
          held = null;
          continue;
        }
        emit(prettyLine(json, colour));
        // a failure before listening is shown at once, with what led to it
        if (held && r && typeof r.level === 'number' && r.level >= 50) {
          for (const h of held) out.write(`${h}\n`);
          held = null;
        }
      }
    },
  };
}
