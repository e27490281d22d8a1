/**
 * npm run bench:import — generates a 1,000,000-row CSV and imports it into the real PostgreSQL with
 * the `digestmail subscribers import` command in its own process; prints rows/s and peak RSS.
 * Targets: ≥ 50,000 rows/s, peak RSS < 300 MB. Then imports the same file again (it must change
 * nothing) and prints that run too.
 */
import { createWriteStream, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, freshDatabase, runMeasured } from './bench.util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const root = fileURLToPath(new URL('..', import.meta.url));
const dataDir = join(root, 'bench', '.data');
mkdirSync(dataDir, { recursive: true });
const file = join(dataDir, `subscribers-${ROWS}.csv`);

async function generate(): Promise<void> {
  const out = createWriteStream(file);
  const write = (chunk: string) =>
    new Promise<void>((resolve) => (out.write(chunk) ? resolve() : out.once('drain', resolve)));
  await write('email,name,city\n');
  const firstNames = ['Ana', 'Bo', '李雷', 'Chloé', 'Dmitri', '韩梅梅', 'Eve', "O'Neil"];
  let chunk = '';
  for (let i = 0; i < ROWS; i++) {
    const name = `${firstNames[i % firstNames.length]} ${i}`;
    chunk += `reader${i}@example${i % 97}.org,"${name}",City ${i % 1000}\n`;
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  await new Promise<void>((resolve) => out.end(resolve));
}

async function main(): Promise<void> {
  process.stdout.write(`generating ${fmt(ROWS)} rows … `);
  await generate();
  console.log(`${(statSync(file).size / 1024 / 1024).toFixed(1)} MiB`);

  const url = await freshDatabase('digestmail_bench_import');
  const env = { DATABASE_URL: url, DATA_DIR: join(dataDir, 'home') };
  const cli = [join(root, 'bin', 'digestmail.js')];
  for (const args of [['migrate'], ['list', 'create', 'bench', '--name', 'Bench']]) {
    const run = await runMeasured(process.execPath, [...cli, ...args], env);
    if (run.code !== 0) throw new Error(`${args.join(' ')} failed: ${run.stderr}`);
  }

  for (const label of ['first import', 're-import (no change)']) {
    const run = await runMeasured(
      process.execPath,
      [...cli, 'subscribers', 'import', file, '--list', 'bench', '--quiet'],
      env,
    );
    if (run.code !== 0) throw new Error(`import failed: ${run.stderr}`);
    console.log(`${label}: ${run.stdout.trim()}`);
    console.log(
      `  ${fmt(ROWS / run.seconds)} rows/s (${run.seconds.toFixed(2)} s, process start included), peak RSS ${fmt(run.peakRssMiB)} MiB`,
    );
  }
  console.log('targets: ≥ 50,000 rows/s, peak RSS < 300 MB');
}

await main();
