/**
 * npm run bench:cli — how fast `digestmail` starts and how much memory it takes, for the commands a
 * user or an MTA runs one at a time:
 *
 *   --help                       nothing but the command line
 *   issue status <id> --json     one PostgreSQL round trip (the real server, BENCH_DATABASE_URL)
 *   bounces ingest <file.eml>    one real bounce (tests/fixtures/dsn/postfix-user-unknown.eml) for a
 *                                sent delivery, as an MTA pipe runs it for every bounce
 *
 * each against `node -e 0` measured in the same run, the runs interleaved so that a busy machine
 * slows all of them alike. Wall time from spawn to exit; peak RSS from getrusage in the process
 * itself (bench/cli.rss.mjs, preloaded into every process, the yardstick included).
 * Median of BENCH_CLI_RUNS runs (default 15). Runs the build in dist/ (npm run build first).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/config.loader.ts';
import { MessageBuilder } from '../src/render/message.builder.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { seedIssue } from '../tests/bounces.seed.ts';
import { fmt, freshMigratedDatabase } from './bench.util.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 15);
const AIMS = { help: 3, status: 5, rssMiB: 80 };
const dir = mkdtempSync(join(tmpdir(), 'dm-bench-cli-'));
const rssFile = join(dir, 'rss.txt');

const env = {
  NODE_ENV: 'production',
  SECRET_KEY: 'bench-cli-secret-key-0123456789abcdef0123',
  DATA_DIR: dir,
  MAIL_FROM: 'AI Daily <news@news.example.org>',
  BOUNCE_ADDRESS: 'Bounces <bounces@news.example.org>',
  VERP: 'true',
  LOG_LEVEL: 'warn',
};

interface Sample {
  ms: number;
  rssMiB: number;
}

/** One cold start: spawn to exit, and the peak RSS the process reported. */
function measure(args: string[], extraEnv: Record<string, string>): Promise<Sample> {
  writeFileSync(rssFile, '');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--import', join(root, 'bench/cli.rss.mjs'), ...args], {
      cwd: root,
      env: { ...process.env, ...env, ...extraEnv, CLI_BENCH_RSS: rssFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
      const kib = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1));
      resolve({ ms, rssMiB: kib / 1024 });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const loadAtStart = loadAvg();
  const { url, handle } = await freshMigratedDatabase('dm_bench_cli');
  const bin = join(root, 'bin', 'digestmail.js');
  try {
    // One sent delivery per ingest run, so every run records a first bounce rather than a repeat.
    const seeded = await seedIssue(
      handle.db,
      Array.from({ length: RUNS + 1 }, (_, i) => `reader${i}@example.net`),
    );
    const builder = new MessageBuilder(loadConfig(env), new TokenSigner(env.SECRET_KEY));
    const template = readFileSync(join(root, 'tests/fixtures/dsn/postfix-user-unknown.eml'), 'utf8');
    const dsnFiles = seeded.deliveries.map((d, i) => {
      const file = join(dir, `dsn-${i}.eml`);
      const text = template
        .replaceAll('{{VERP}}', builder.envelopeFrom(d.id))
        .replaceAll('{{RECIPIENT}}', d.email)
        .replaceAll('{{RECIPIENT_LOCAL}}', d.email.split('@')[0]!)
        .replaceAll('{{MESSAGE_ID}}', d.messageId)
        .replaceAll('{{ISSUE_ID}}', String(d.issueId));
      writeFileSync(file, text.replace(/\r?\n/g, '\r\n'));
      return file;
    });
    const pgEnv = { DATABASE_URL: url };
    const cases: { name: string; args: (i: number) => string[]; env: Record<string, string> }[] = [
      { name: 'node -e 0', args: () => ['-e', '0'], env: {} },
      { name: 'digestmail --help', args: () => [bin, '--help'], env: {} },
      {
        name: `digestmail issue status ${seeded.issueId} --json`,
        args: () => [bin, 'issue', 'status', String(seeded.issueId), '--json'],
        env: pgEnv,
      },
      {
        name: 'digestmail bounces ingest <dsn>',
        args: (i) => [bin, 'bounces', 'ingest', dsnFiles[i]!],
        env: pgEnv,
      },
    ];
    const samples = cases.map(() => [] as Sample[]);
    // A warm-up round (file cache, PostgreSQL connection slots), not counted.
    for (const c of cases) await measure(c.args(RUNS), c.env);
    for (let i = 0; i < RUNS; i++) {
      for (const [k, c] of cases.entries()) samples[k]!.push(await measure(c.args(i), c.env));
    }
    const base = median(samples[0]!.map((s) => s.ms));
    console.log(
      `bench:cli — ${RUNS} cold starts each, interleaved; Node ${process.version}; load average (1, 5, 15 min) ${loadAtStart} at start, ${loadAvg()} at end`,
    );
    console.log('');
    console.log('| command | median time | × node -e 0 | aim | peak RSS (median) | aim |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const [k, c] of cases.entries()) {
      const ms = median(samples[k]!.map((s) => s.ms));
      const rss = median(samples[k]!.map((s) => s.rssMiB));
      const aim = k === 1 ? `≤ ${AIMS.help}×` : k === 2 ? `≤ ${AIMS.status}×` : '';
      const rssAim = k === 0 ? '' : `≤ ${AIMS.rssMiB} MB`;
      console.log(
        `| ${c.name} | ${fmt(ms)} ms | ${k === 0 ? '1' : fmt(ms / base, 1)}× | ${aim} | ${fmt(rss, 1)} MB | ${rssAim} |`,
      );
    }
    const ratio = (k: number) => median(samples[k]!.map((s) => s.ms)) / base;
    const rss = (k: number) => median(samples[k]!.map((s) => s.rssMiB));
    const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
    console.log('');
    console.log(`--help ≤ ${AIMS.help}× node -e 0: ${verdict(ratio(1) <= AIMS.help)}`);
    console.log(`issue status ≤ ${AIMS.status}× node -e 0: ${verdict(ratio(2) <= AIMS.status)}`);
    for (const k of [1, 2, 3])
      console.log(`${cases[k]!.name} peak RSS ≤ ${AIMS.rssMiB} MB: ${verdict(rss(k) <= AIMS.rssMiB)}`);
  } finally {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function loadAvg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

await main();
