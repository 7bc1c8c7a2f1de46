/**
 * The direction of dependencies in src/, checked by `npm test` (npm run lint:deps).
 * model/ is the shared vocabulary and imports nothing; every other layer points
 * down towards it. Type-only imports count too.
 */
const layer = (name, allowed) => ({
  name: `${name}-imports-only-${allowed.map((a) => a.replace(/\.ts$/, '')).join('-')}`,
  comment: `src/${name} may import only: ${[name, ...allowed].join(', ')} (and packages)`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...allowed.map((a) => (a.endsWith('.ts') ? `^src/${a.replace('.', '\\.')}$` : `^src/${a}/`))] },
});

module.exports = {
  forbidden: [
    {
      name: 'model-imports-nothing',
      comment: 'src/model is the vocabulary every layer shares: it imports nothing, not even Node built-ins or packages',
      severity: 'error',
      from: { path: '^src/model/' },
      to: { pathNot: '^src/model/' },
    },
    {
      name: 'errors-imports-only-model',
      severity: 'error',
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/', pathNot: '^src/model/' },
    },
    layer('lib', ['model', 'errors.ts']),
    layer('flatten', ['model']),
    layer('config', ['model', 'errors.ts', 'lib']),
    layer('metrics', ['model']),
    layer('ingest', ['model', 'errors.ts', 'lib', 'config']),
    layer('store', ['model', 'errors.ts', 'lib', 'flatten']),
    layer('views', ['model', 'errors.ts', 'lib', 'config']),
    layer('sinks', ['model', 'errors.ts', 'lib', 'config']),
    layer('simulate', ['model', 'lib']),
    layer('doctor', ['model', 'errors.ts', 'lib', 'config', 'store', 'sinks']),
    layer('jobs', ['model', 'errors.ts', 'lib', 'config', 'flatten', 'ingest', 'store', 'views', 'sinks', 'metrics', 'logger.ts']),
    layer('http', ['model', 'errors.ts', 'lib', 'config', 'ingest', 'store', 'views', 'jobs', 'metrics', 'logger.ts']),
    {
      name: 'cli-is-the-top',
      comment: 'the command line and the server builder (service.ts) sit on top: nothing below imports them',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: ['^src/cli/', '^src/service\\.ts$'] },
    },
    {
      name: 'logger-imports-only-config',
      severity: 'error',
      from: { path: '^src/logger\\.ts$' },
      to: { path: '^src/', pathNot: ['^src/config/', '^src/model/'] },
    },
    {
      name: 'koa-only-in-http',
      comment: 'the web framework stays in src/http: verify, validate and receive know nothing of Koa',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/http/' },
      to: { path: 'node_modules/(koa|@koa/)' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.json'] },
  },
};
