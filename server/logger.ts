import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Anything that could carry a credential or key is redacted by path; request
 * logging (server/http/app.ts) never logs bodies, so plaintext rows or sealed bytes cannot reach a line.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'masterSecret',
  '*.masterSecret',
  'privateKey',
  '*.privateKey',
  'privateKeyPem',
  '*.privateKeyPem',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'shuyu-server' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    // stdout written asynchronously (pino flushes it on exit): a synchronous write per request line would
    // block the event loop whenever the reader of stdout is slower than the requests.
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
