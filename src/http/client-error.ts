import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** Node's own parse errors, answered before Koa sees the request, mapped to our error codes. */
const PARSE_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'the request headers are larger than 16 KB' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'the request was not received in time' },
};
const BAD_REQUEST = { status: 400, code: 'bad_request', message: 'the request is not valid HTTP/1.1' };
const REASON: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/**
 * Requests that Node's HTTP parser refuses (headers past its 16 KB limit, a
 * malformed request line) never reach Koa: without this they get a bare
 * status line. They get the same JSON error shape as everything else.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    // Bytes past a request's body (a wrong Content-Length, a body without one) fail to parse as the
    // next request while the first one is still being answered: let that answer go out, then close.
    const inFlight = (socket as { _httpMessage?: { writableFinished?: boolean; once(event: 'finish', cb: () => void): unknown } })._httpMessage;
    if (inFlight) {
      const close = () => socket.end();
      if (inFlight.writableFinished) close();
      else inFlight.once('finish', close);
      return;
    }
    const e = (err.code && PARSE_ERRORS[err.code]) || BAD_REQUEST;
    const body = JSON.stringify({ error: { code: e.code, message: e.message } });
    socket.end(
      `HTTP/1.1 ${e.status} ${REASON[e.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
