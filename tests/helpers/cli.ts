import { spawn } from 'node:child_process';
import { format } from 'node:util';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The command users run: bin/digestmail.js starts the build in dist/ (the tests' global setup builds it). */
export const BIN = fileURLToPath(new URL('../../bin/digestmail.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

type Env = Record<string, string | undefined>;

/**
 * Runs the real `digestmail` command in a child process, as a user would. For tests where the process
 * is the point: stdin piping, signals, crashes, what a real start loads, a real exit status.
 */
export function runCli(
  args: string[],
  env: Env = {},
  options: { input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, NODE_ENV: 'test', DEBUG: '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 110_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs a `digestmail` command line in this process through the CLI's own `main(argv)`: the same
 * parsing, commands, output and exit status as `runCli`, without paying a Node start per call (the
 * suite runs the CLI hundreds of times; on a busy machine the starts were what timed out). For
 * tests of what a command does and prints; tests of the process itself use `runCli`.
 *
 * The environment, working folder, stdout/stderr and console are process-wide, so calls run one at
 * a time, each with its own environment laid over this process's, and everything is put back after.
 */
export function runCliInProcess(
  args: string[],
  env: Env = {},
  options: { cwd?: string } = {},
): Promise<CliResult> {
  const run = queue.then(() => runOnce(args, { NODE_ENV: 'test', DEBUG: '', ...env }, options.cwd ?? ROOT));
  queue = run.catch(() => {});
  return run;
}

async function runOnce(args: string[], env: Env, cwd: string): Promise<CliResult> {
  const { main } = await import('../../src/cli/main.ts');
  const saved = { env: { ...process.env }, cwd: process.cwd() };
  const streams = { stdout: process.stdout.write, stderr: process.stderr.write };
  const consoleSaved = { log: console.log, info: console.info, warn: console.warn, error: console.error };
  const out = { stdout: '', stderr: '' };
  const capture =
    (to: 'stdout' | 'stderr') =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      out[to] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  process.chdir(cwd);
  process.stdout.write = capture('stdout') as typeof process.stdout.write;
  process.stderr.write = capture('stderr') as typeof process.stderr.write;
  const toStdout = (...a: unknown[]) => {
    out.stdout += `${format(...a)}\n`;
  };
  const toStderr = (...a: unknown[]) => {
    out.stderr += `${format(...a)}\n`;
  };
  Object.assign(console, { log: toStdout, info: toStdout, warn: toStderr, error: toStderr });
  try {
    const code = await main(['node', BIN, ...args]);
    return { code, ...out };
  } finally {
    process.stdout.write = streams.stdout;
    process.stderr.write = streams.stderr;
    Object.assign(console, consoleSaved);
    process.chdir(saved.cwd);
    for (const key of Object.keys(process.env)) if (!(key in saved.env)) delete process.env[key];
    Object.assign(process.env, saved.env);
  }
}
