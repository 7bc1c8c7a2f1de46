import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';
import { BadRequestError, PayloadTooLargeError, RequestTimeoutError, UnsupportedMediaTypeError } from '../errors.js';
import { previewJson } from '../lib/preview.js';

/**
 * How long a body may take to arrive, from when its reading starts. Node's
 * requestTimeout does not cut a body that stalls once the request reached the
 * route (measured: a connection held for minutes); EmberQA waits 30 s.
 */
export const BODY_TIMEOUT_MS = 30_000;

/**
 * The exact bytes of the body, at most `limit` of them (a Content-Length above
 * it is refused before reading), within `timeoutMs` (408). Compressed bodies
 * are refused: EmberQA sends plain JSON, and inflating untrusted input is a
 * way around the size limit.
 */
export async function readBody(req: IncomingMessage, limit: number, timeoutMs = BODY_TIMEOUT_MS): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  if (encoding !== 'identity' && encoding !== '') {
    throw new UnsupportedMediaTypeError(`Content-Encoding ${previewJson(encoding, 100)} is not supported; send the JSON uncompressed`);
  }
  // Node undoes `chunked` only; any other transfer coding (gzip, chunked) would reach us still encoded.
  const transfer = (req.headers['transfer-encoding'] ?? '').toLowerCase().split(',').map((t) => t.trim()).filter(Boolean);
  if (transfer.some((t) => t !== 'chunked' && t !== 'identity')) {
    throw new UnsupportedMediaTypeError(`Transfer-Encoding ${previewJson(transfer.join(', '), 100)} is not supported; send the JSON uncompressed`);
  }
  const lengthHeader = req.headers['content-length'];
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Reading stops; the error middleware answers 408 with Connection: close, so the socket is closed after it.
      req.pause();
      reject(new RequestTimeoutError(timeoutMs));
    }, timeoutMs);
  });
  try {
    return await Promise.race([getRawBody(req, { limit, ...(lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? { length: Number(lengthHeader) } : {}) }), late]);
  } catch (err) {
    if (err instanceof RequestTimeoutError) throw err;
    const e = err as { type?: string; message?: string };
    if (e.type === 'entity.too.large') throw new PayloadTooLargeError(limit);
    throw new BadRequestError(`could not read the request body: ${e.message ?? 'unknown error'}`);
  } finally {
    clearTimeout(timer);
  }
}
