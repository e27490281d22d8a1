import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';
import {
  createIssue,
  exited,
  issueStatus,
  killWorkers,
  perRecipient,
  seedAudience,
  senderEnv,
  spawnWorker,
  waitForIssue,
} from './sender.helpers.ts';

const RECIPIENTS = 20_000;
const RATE = 500;

/**
 * Checks the rate from the send times the workers recorded: over every 5-second window the workers
 * together stay within SEND_RATE, give or take the small handfuls of tokens each holds (at most R/4
 * each, plus R/4 in the bucket), and over the whole send the average does too.
 */
async function expectRateHeld(db: TestDatabase, issueId: number, rate: number): Promise<void> {
  const windows = await sql<{ n: number }>`
    with sent as (select sent_at from deliveries where issue_id = ${issueId} and sent_at is not null)
    select count(*)::int as n
      from sent d
      join generate_series(
             (select date_trunc('second', min(sent_at)) from sent),
             (select max(sent_at) from sent),
             interval '1 second') as w(start)
        on d.sent_at >= w.start and d.sent_at < w.start + interval '5 seconds'
     group by w.start
  `.execute(db.db);
  const busiest = Math.max(...windows.rows.map((r) => r.n));
  expect(busiest).toBeLessThanOrEqual(rate * 5 + rate);
  const span = await sql<{ n: number; seconds: number }>`
    select count(*)::int as n, extract(epoch from max(sent_at) - min(sent_at))::float8 as seconds
      from deliveries where issue_id = ${issueId} and sent_at is not null
  `.execute(db.db);
  const { n, seconds } = span.rows[0]!;
  expect(n - 1).toBeLessThanOrEqual(rate * (seconds + 1));
}

describe('three workers draining one issue', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    smtp = await startSmtpServer();
    await seedAudience(db.db, RECIPIENTS);
  });
  afterAll(async () => {
    await killWorkers();
    await smtp?.close();
    await db?.close();
  });

  it('sends to each of 20,000 recipients exactly once, and SEND_RATE holds for the three together', async () => {
    const env = senderEnv(db.url!, smtp.url, { SEND_RATE: String(RATE), SEND_CONCURRENCY: '4' });
    const id = await createIssue(env);
    const workers = [spawnWorker(env), spawnWorker(env), spawnWorker(env)];
    expect((await runCli(['issue', 'send', String(id)], env)).code).toBe(0);
    await waitForIssue(db.db, id, 'sent', 180_000).then(() => issueStatus(env, id));
    for (const w of workers) w.kill('SIGTERM');
    for (const w of workers) expect(await exited(w)).toBe(0);

    const got = perRecipient(smtp.messages());
    expect(got.size).toBe(RECIPIENTS);
    expect([...got.values()].every((n) => n === 1)).toBe(true);

    // All three took part.
    const byWorker = await db.db
      .selectFrom('deliveries')
      .select(['leased_by', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('leased_by')
      .execute();
    expect(byWorker).toHaveLength(3);
    for (const w of byWorker) expect(w.n).toBeGreaterThan(RECIPIENTS / 10);

    await expectRateHeld(db, id, RATE);
  }, 300_000);

  it('holds a SEND_RATE the three could easily exceed: their sum stays within it', async () => {
    const slow = 60;
    await sql`truncate deliveries, issues restart identity cascade`.execute(db.db);
    await sql`delete from subscriptions where subscriber_id > 900`.execute(db.db);
    const env = senderEnv(db.url!, smtp.url, { SEND_RATE: String(slow), SEND_CONCURRENCY: '4' });
    const id = await createIssue(env);
    const workers = [spawnWorker(env), spawnWorker(env), spawnWorker(env)];
    expect((await runCli(['issue', 'send', String(id)], env)).code).toBe(0);
    const done = await waitForIssue(db.db, id, 'sent', 120_000).then(() => issueStatus(env, id));
    for (const w of workers) w.kill('SIGTERM');
    for (const w of workers) expect(await exited(w)).toBe(0);
    expect(done.counts.sent).toBe(900);
    const byWorker = await db.db
      .selectFrom('deliveries')
      .select(['leased_by', (eb) => eb.fn.countAll<number>().as('n')])
      .where('issue_id', '=', id)
      .groupBy('leased_by')
      .execute();
    expect(byWorker).toHaveLength(3);
    await expectRateHeld(db, id, slow);
  }, 180_000);
});
