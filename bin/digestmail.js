#!/usr/bin/env node
// Runs the CLI compiled to dist/ (built by `npm install` through the `prepare` script, or by
// `npm run build`), so a start costs no TypeScript compilation.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('digestmail: dist/ is missing: run "npm run build" (npm install does it)\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
