import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../src/db/db.types.ts';
import { BIN, ROOT, runCliInProcess } from './helpers/cli.ts';

/** The sender's own sample digest (about the size of a real one). */
export const DIGEST = fileURLToPath(new URL('./fixtures/sender/2026-11-20-weekly-notes.md', import.meta.url));

export interface Audience {
  listId: number;
  confirmed: string[];
  pending: string[];
  unsubscribed: string[];
  suppressed: string[];
  blocklisted: string[];
}

/**
 * A list with `confirmed` confirmed readers, plus a few who must never get mail: pending, unsubscribed,
 * suppressed (confirmed but on the suppression list) and blocklisted. Written with generate_series,
 * so 20,000 readers take a moment, not a minute.
 */
export async function seedAudience(
  db: Kysely<Database>,
  confirmed: number,
  slug = 'news',
): Promise<Audience> {
  const list = await db
    .insertInto('lists')
    .values({ slug, name: 'Weekly Notes', opt_in: 'single', topics: [] })
    .returning('id')
    .executeTakeFirstOrThrow();
  const add = async (prefix: string, n: number, status: string, subscriberStatus = 'active') => {
    await sql`
      with s as (
        insert into subscribers (email, name, status)
        select ${prefix} || g || '@example.net', 'Reader ' || g, ${subscriberStatus}
          from generate_series(1, ${n}::int) g
        returning id
      )
      insert into subscriptions (subscriber_id, list_id, status, confirmed_at)
      select id, ${list.id}, ${status}, now() from s
    `.execute(db);
    return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}@example.net`);
  };
  const audience: Audience = {
    listId: list.id,
    confirmed: await add(`${slug}-reader`, confirmed, 'confirmed'),
    pending: await add(`${slug}-pending`, 3, 'pending'),
    unsubscribed: await add(`${slug}-gone`, 3, 'unsubscribed'),
    suppressed: await add(`${slug}-suppressed`, 3, 'confirmed'),
    blocklisted: await add(`${slug}-blocked`, 2, 'confirmed', 'blocklisted'),
  };
  await db
    .insertInto('suppressions')
    .values(audience.suppressed.map((email) => ({ email, reason: 'complaint' as const })))
    .execute();
  return audience;
}

/** Settings for a CLI or worker process of a test: its database, its mail server, fast retries. */
export function senderEnv(databaseUrl: string, mailUrl: string, extra: Record<string, string> = {}) {
  return {
    DATABASE_URL: databaseUrl,
    MAIL_URL: mailUrl,
    DATA_DIR: mkdtempSync(join(tmpdir(), 'dm-sender-')),
    SECRET_KEY: 'test-secret-key-test-secret-key-0123456789',
    PUBLIC_URL: 'https://news.example.org',
    MAIL_FROM: 'Weekly Notes <news@example.org>',
    BOUNCE_ADDRESS: 'bounces@example.org',
    SEND_RATE: '5000',
    SEND_CONCURRENCY: '8',
    RETRY_BASE_SECONDS: '0.05',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Creates an issue through the CLI (in this process) for the list 'news' and returns its id. */
export async function createIssue(env: Record<string, string>, args: string[] = []): Promise<number> {
  const result = await runCliInProcess(['issue', 'create', DIGEST, '--list', 'news', ...args], env);
  if (result.code !== 0) throw new Error(`issue create failed: ${result.stderr}`);
  return Number(result.stdout.trim());
}

export async function issueStatus(env: Record<string, string>, id: number) {
  const result = await runCliInProcess(['issue', 'status', String(id), '--json'], env);
  if (result.code !== 0) throw new Error(`issue status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as {
    status: string;
    pause_reason: string | null;
    counts: Record<string, number>;
    bounces: { reason: string; count: number; hard: boolean; status: string; diagnostic: string }[];
  };
}

const liveWorkers = new Set<ChildProcess>();
// A test that fails half-way must not leave workers running after the test process is gone.
process.on('exit', () => {
  for (const child of liveWorkers) child.kill('SIGKILL');
});

/** Kills every worker a test started that is still running (for afterAll/afterEach). */
export async function killWorkers(): Promise<void> {
  const children = [...liveWorkers];
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map(exited));
}

/** A `digestmail worker` process. */
export function spawnWorker(env: Record<string, string>): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', DEBUG: '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  liveWorkers.add(child);
  child.once('exit', () => liveWorkers.delete(child));
  let output = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  return Object.assign(child, { output: () => output });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Polls until `check` returns a value (not undefined), or fails after timeoutMs. */
export async function until<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How many messages each envelope recipient got. */
export function perRecipient(messages: { to: string[] }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of messages) for (const to of m.to) counts.set(to, (counts.get(to) ?? 0) + 1);
  return counts;
}

/** Waits (polling the database, not the CLI) until the issue has the given status. */
export function waitForIssue(db: Kysely<Database>, id: number, status: string, timeoutMs = 120_000) {
  return until(
    async () => {
      const row = await db.selectFrom('issues').select('status').where('id', '=', id).executeTakeFirst();
      return row?.status === status ? row : undefined;
    },
    timeoutMs,
    `issue ${id} to be ${status}`,
  );
}
