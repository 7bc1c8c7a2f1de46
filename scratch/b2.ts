import Koa from 'koa';
import { Router } from '@koa/router';
import getRawBody from 'raw-body';
import { createValidator } from '/work/main/src/ingest/validate.ts';
import { parseJsonObject } from '/work/main/src/ingest/parse-body.ts';
const mode = process.env.MODE ?? '';
const v = createValidator();
const app = new Koa();
const router = new Router();
router.post('/webhooks/emberqa/:token', async (ctx) => {
  const b = await getRawBody(ctx.req, { limit: 1e6, length: Number(ctx.get('content-length')) });
  const p = mode.includes('p') ? parseJsonObject(b) : JSON.parse(b.toString());
  if (mode.includes('v')) v.validate(p);
  if (mode.includes('w')) await new Promise((r) => setImmediate(r));
  ctx.body = { received: true, duplicate: false, webhook_id: p.webhook_id };
});
app.use(router.routes());
app.listen(4556, '127.0.0.1');
