// Baseline for bench/ingest: bare Koa answering 200 to every request, body unread.
import Koa from 'koa';

const app = new Koa();
app.use((ctx) => {
  ctx.status = 200;
  ctx.body = { received: true };
});
const server = app.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : ''}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
