import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { problem } from './problems.js';

/**
 * What node's HTTP parser refuses before express sees the request — a control character or a non-token byte
 * in a header (an Idempotency-Key or Authorization with a NUL), a malformed request line, headers past the
 * size limit — is answered as problem+json like every other refusal, instead of node's bare "400 Bad Request".
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // as node's own handler: answer only on a connection nothing was written to yet (no answer cut in two)
    if (err.code === 'ECONNRESET' || !socket.writable || (socket as Socket).bytesWritten > 0) {
      socket.destroy();
      return;
    }
    const p =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? problem('headers-too-large', 'the request headers exceed the server’s limit')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? problem('client-timeout', 'the request did not arrive in time; retry')
          : problem('malformed-request', 'the request line or a header is malformed (header values are visible ASCII; no control characters)');
    const body = JSON.stringify(p);
    const reason = p.status === 431 ? 'Request Header Fields Too Large' : p.status === 408 ? 'Request Timeout' : 'Bad Request';
    socket.end(
      `HTTP/1.1 ${p.status} ${reason}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
