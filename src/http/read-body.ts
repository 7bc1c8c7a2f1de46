import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.js';
import { previewJson } from '../lib/preview.js';

/**
 * The exact bytes of the body, at most `limit` of them (a Content-Length above
 * it is refused before reading). Compressed bodies are refused: EmberQA sends
 * plain JSON, and inflating untrusted input is a way around the size limit.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
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
  try {
    return await getRawBody(req, { limit, ...(lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? { length: Number(lengthHeader) } : {}) });
  } catch (err) {
    const e = err as { type?: string; message?: string };
    if (e.type === 'entity.too.large') throw new PayloadTooLargeError(limit);
    throw new BadRequestError(`could not read the request body: ${e.message ?? 'unknown error'}`);
  }
}
