/**
 * The module import table of DESIGN.md ("Modules (src/)") as rules: a module imports only the
 * modules in its row, so there is no cycle between modules. `npm run check:deps` runs it; CI runs it
 * before the tests. Keep this table, DESIGN.md and the README's module map the same.
 */
const ALLOWED = {
  core: [],
  config: ['core'],
  db: ['config', 'core'],
  digest: ['core'],
  render: ['digest', 'config', 'core'],
  transports: ['config', 'core'],
  subscriptions: ['db', 'core'],
  delivery: ['db', 'render', 'transports', 'subscriptions', 'config', 'core'],
  issues: ['db', 'digest', 'render', 'delivery', 'subscriptions', 'transports', 'config', 'core'],
  bounces: ['db', 'subscriptions', 'config', 'core'],
  clicks: ['db', 'config', 'core'],
  editors: ['db', 'config', 'core'],
};
const SERVICES = Object.keys(ALLOWED);
const any = (modules) => `^src/(${modules.join('|')})/`;

const moduleRules = Object.entries(ALLOWED).map(([module, allowed]) => ({
  name: `${module}-imports`,
  comment: `src/${module}/ may import only: ${allowed.join(', ') || 'nothing'} (DESIGN.md)`,
  severity: 'error',
  from: { path: `^src/${module}/` },
  to: { path: '^src/', pathNot: [`^src/${module}/`, ...(allowed.length ? [any(allowed)] : [])] },
}));

module.exports = {
  forbidden: [
    ...moduleRules,
    {
      name: 'http-imports',
      comment: 'src/http/ may import the services above (DESIGN.md), never the CLI',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: '^src/', pathNot: ['^src/http/', any(SERVICES)] },
    },
    {
      name: 'cli-imports',
      comment: 'src/cli/ may import the services above and http (serve)',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: ['^src/cli/', '^src/http/', any(SERVICES)] },
    },
    {
      name: 'routes-call-services',
      comment: "routes and commands call services: no other module's repository from http/ or cli/",
      severity: 'error',
      from: { path: '^src/(http|cli)/' },
      to: { path: '^src/[^/]+/.*\\.repository\\.ts$' },
    },
    {
      name: 'migrations-stand-alone',
      comment: 'migrations never import from src/ (they are frozen; src/ changes)',
      severity: 'error',
      from: { path: '^migrations/' },
      to: { path: '^src/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycle, between modules or inside one',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.d\\.ts$' },
  },
};
