import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import pg from 'pg';
import { type DatabaseHandle, openPostgres } from '../src/db/db.factory.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { freePort } from '../tests/helpers/serve.ts';

export const BENCH_ADMIN_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Drops and recreates a database for a benchmark run and returns its URL. */
export async function freshDatabase(name: string): Promise<string> {
  const client = new pg.Client({ connectionString: BENCH_ADMIN_URL });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(BENCH_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh database with the schema applied, and a small pool on it for the benchmark's own queries. */
export async function freshMigratedDatabase(name: string): Promise<{ url: string; handle: DatabaseHandle }> {
  const url = await freshDatabase(name);
  const handle = openPostgres(url, 4);
  await migrateToLatest(handle.db);
  return { url, handle };
}

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
  /** Peak resident set size of the child, from /proc (VmHWM), in MiB. */
  peakRssMiB: number;
}

/** Runs a command and samples its peak RSS from /proc/<pid>/status while it runs. */
export function runMeasured(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let peakKiB = 0;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const sample = () => {
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (match) peakKiB = Math.max(peakKiB, Number(match[1]));
      } catch {
        // the process has just ended
      }
    };
    const timer = setInterval(sample, 50);
    child.on('error', reject);
    child.on('exit', () => sample());
    child.on('close', (code) => {
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ code, stdout, stderr, seconds, peakRssMiB: peakKiB / 1024 });
    });
  });
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Exits with a plain line when a Postfix tool a benchmark needs is missing. */
export function requirePostfix(bench: string, tools: string[]): void {
  for (const tool of tools) {
    if (!existsSync(tool)) {
      console.error(`${bench} needs ${tool} from Debian's postfix package (apt-get install postfix)`);
      process.exit(2);
    }
  }
}

/** Postfix's smtp-sink in its own process: accepts everything, keeps nothing. */
export async function startSmtpSink(): Promise<{ port: number; stop: () => void }> {
  const port = await freePort();
  const sink = spawn('/usr/sbin/smtp-sink', ['-u', 'postfix', `127.0.0.1:${port}`, '1000'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // Up once its port is taken (a probe listening there fails).
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(true));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, stop: () => sink.kill('SIGTERM') };
}
