import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from './helpers/cli.ts';
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

// Enough that three workers overlap for many batches; small enough for a machine busy with other work.
const RECIPIENTS = 5_000;
const RATE = 500;

/**
 * Checks the rate from the send times the workers recorded: over the whole send the workers together
 * stay within SEND_RATE, give or take the tokens they may hold at the start (at most R/4 each, plus
 * R/4 in the bucket: under one second's worth). A busy machine can only make the send slower, so this
 * bound holds however loaded it is. (Windows of a few seconds are not checked: on a loaded machine a
 * worker's commits, and with them its recorded send times, bunch up after a stall.)
 */
async function expectRateHeld(db: TestDatabase, issueId: number, rate: number): Promise<void> {
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

  it('sends to each of 5,000 recipients exactly once, and SEND_RATE holds for the three together', async () => {
    const env = senderEnv(db.url!, smtp.url, { SEND_RATE: String(RATE), SEND_CONCURRENCY: '4' });
    const id = await createIssue(env);
    const workers = [spawnWorker(env), spawnWorker(env), spawnWorker(env)];
    expect((await runCliInProcess(['issue', 'send', String(id)], env)).code).toBe(0);
    await waitForIssue(db.db, id, 'sent', 180_000).then(() => issueStatus(env, id));
    for (const w of workers) w.kill('SIGTERM');
    for (const w of workers) expect(await exited(w)).toBe(0);

    const got = perRecipient(smtp.messages());
    expect(got.size).toBe(RECIPIENTS);
    expect([...got.values()].every((n) => n === 1)).toBe(true);
    // How the work split between the three is up to the machine's scheduler (on a busy machine one
    // may start late and send little): not asserted here. Exactly once, and the rate's upper bound, are.
    await expectRateHeld(db, id, RATE);
  }, 300_000);

  it('holds a SEND_RATE the three could easily exceed: their sum stays within it', async () => {
    const slow = 60;
    await sql`truncate deliveries, issues restart identity cascade`.execute(db.db);
    await sql`delete from subscriptions where subscriber_id > 900`.execute(db.db);
    const env = senderEnv(db.url!, smtp.url, { SEND_RATE: String(slow), SEND_CONCURRENCY: '4' });
    const id = await createIssue(env);
    const workers = [spawnWorker(env), spawnWorker(env), spawnWorker(env)];
    expect((await runCliInProcess(['issue', 'send', String(id)], env)).code).toBe(0);
    const done = await waitForIssue(db.db, id, 'sent', 120_000).then(() => issueStatus(env, id));
    for (const w of workers) w.kill('SIGTERM');
    for (const w of workers) expect(await exited(w)).toBe(0);
    expect(done.counts.sent).toBe(900);
    await expectRateHeld(db, id, slow);
  }, 180_000);
});
