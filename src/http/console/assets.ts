import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * The console's own browser files. They are plain JS and CSS (no build
 * step), kept beside this module in src/; the path goes through the package
 * root so that it is the same from src/http/console (tsx) and
 * dist/http/console (npm start), where tsc copies no CSS or JS.
 */
const STATIC_DIR = fileURLToPath(new URL('../../../src/http/console/static/', import.meta.url));

const require = createRequire(import.meta.url);

function asset(path: string, type: string): Asset {
  const body = readFileSync(path);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/**
 * Every file the console page loads, read once at start and served by
 * ember-sync itself: uPlot (MIT, ~50 KB) from node_modules and the console's
 * script and styles. Nothing comes from another host.
 */
export function loadConsoleAssets(): ReadonlyMap<string, Asset> {
  return new Map([
    ['uplot.iife.min.js', asset(require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8')],
    ['uplot.min.css', asset(require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8')],
    ['console.js', asset(`${STATIC_DIR}console.js`, 'text/javascript; charset=utf-8')],
    ['console.css', asset(`${STATIC_DIR}console.css`, 'text/css; charset=utf-8')],
  ]);
}
