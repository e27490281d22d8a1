#!/usr/bin/env node
/**
 * Builds dist/: the CLI and the migrations as plain JavaScript for Node 20, so `digestmail` starts
 * without compiling TypeScript (tsx is for development only).
 *
 * esbuild rather than tsc: one pass, well under a second, and with `splitting` every command group
 * that main.ts imports lazily stays its own chunk, so `digestmail --help` still loads no MJML,
 * Fastify, AWS SDK or PGlite. Packages stay external (resolved from node_modules at run time),
 * except the few pure-JavaScript ones every command loads, which come as hundreds of small ES module
 * files (kysely ~1,000, zod ~200): bundled, they cost one file read instead of a thousand resolutions
 * at every start. Anything with native code, wasm or files of its own stays external.
 * Type checking is `npm run typecheck` (tsc), as before.
 *
 * Incremental and safe to run from two processes at once: files are built in memory and only the
 * ones whose bytes changed are written (each through a temporary file and a rename), so a CLI that
 * is starting never reads a half-written chunk. Files of an older build are removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** Packages bundled into dist/ (see above); every other bare import stays an import from node_modules. */
const BUNDLED = new Set(['kysely', 'zod']);

const externalPackages = {
  name: 'external-packages',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      const parts = args.path.split('/');
      const name = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      return BUNDLED.has(name) ? undefined : { path: args.path, external: true };
    });
  },
};

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = path.join(ROOT, 'dist');

export async function buildDist({ quiet = false } = {}) {
  const started = performance.now();
  const migrations = (await fs.readdir(path.join(ROOT, 'migrations')))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => ({ in: path.join(ROOT, 'migrations', f), out: `migrations/${f.replace(/\.ts$/, '')}` }));
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [{ in: path.join(ROOT, 'src/cli/main.ts'), out: 'cli/main' }, ...migrations],
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    plugins: [externalPackages],
    chunkNames: 'chunks/[name]-[hash]',
    sourcemap: 'linked',
    write: false,
    logLevel: 'warning',
  });
  let written = 0;
  const keep = new Set();
  for (const file of result.outputFiles) {
    keep.add(file.path);
    const current = await fs.readFile(file.path).catch(() => undefined);
    if (current?.equals(file.contents)) continue;
    await fs.mkdir(path.dirname(file.path), { recursive: true });
    const tmp = `${file.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(tmp, file.contents);
    await fs.rename(tmp, file.path);
    written++;
  }
  for (const file of await fs.readdir(DIST, { recursive: true })) {
    const full = path.join(DIST, file);
    if (keep.has(full) || full.endsWith('.tmp')) continue;
    const stat = await fs.stat(full).catch(() => undefined);
    if (stat?.isFile()) await fs.rm(full, { force: true });
  }
  const ms = Math.round(performance.now() - started);
  if (!quiet) console.log(`dist/: ${result.outputFiles.length} files, ${written} changed (${ms} ms)`);
  return { files: result.outputFiles.length, written, ms };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await buildDist();
