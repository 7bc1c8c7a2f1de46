/**
 * A body that stops arriving: answered 408 (the JSON error body) once the
 * body timeout has passed, and the connection closed by the server — Node's
 * requestTimeout does not cut it once the request reached the route.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { test } from 'node:test';
import Koa from 'koa';
import pino from 'pino';
import { errorMiddleware } from '../../src/http/error-middleware.js';
import { readBody } from '../../src/http/read-body.js';

test('a stalled body is answered 408 after the body timeout and the connection is closed; a whole body is read', async (t) => {
  const app = new Koa();
  app.use(errorMiddleware(pino({ level: 'silent' }), (p) => p));
  app.use(async (ctx) => {
    ctx.body = { bytes: (await readBody(ctx.req, 1000, 300)).length };
  });
  const server = app.listen(0, '127.0.0.1');
  t.after(() => server.close());
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const exchange = async (body: string, length: number) => {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${body}`);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const started = performance.now();
    // The server ends the connection (after a 408) or, for a whole body, answers and keeps it: end it ourselves.
    const ended = await Promise.race([once(socket, 'end').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
    socket.destroy();
    return { text: Buffer.concat(chunks).toString(), ms: performance.now() - started, ended };
  };

  const stalled = await exchange('{"a":', 100);
  assert.match(stalled.text, /^HTTP\/1\.1 408 /);
  assert.match(stalled.text, /connection: close/i);
  assert.match(stalled.text, /"code":"request_timeout"/);
  assert.equal(stalled.ended, true, 'the server closed the connection');
  assert.ok(stalled.ms >= 250, `answered after ${Math.round(stalled.ms)} ms (timers never fire early)`);

  const whole = await exchange('{"a":1}', 7);
  assert.match(whole.text, /^HTTP\/1\.1 200 /);
  assert.match(whole.text, /\{"bytes":7\}/);
});
