import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, runCliInProcess } from './helpers/cli.ts';
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
  until,
  waitForIssue,
} from './sender.helpers.ts';

describe('a flaky or refusing mail server', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer | undefined;

  beforeEach(async () => {
    db = await createTestDatabase('postgres');
  });
  afterEach(async () => {
    await killWorkers();
    await smtp?.close();
    smtp = undefined;
    await db?.close();
  });
  afterAll(async () => {
    await killWorkers();
    await smtp?.close();
  });

  it('delivers to everyone once when 10 % of messages get a 451 and 1 % of connections drop', async () => {
    smtp = await startSmtpServer({ transientRate: 0.1, dropRate: 0.01 });
    const audience = await seedAudience(db.db, 2000);
    const env = senderEnv(db.url!, smtp.url);
    const id = await createIssue(env);
    const result = await runCli(['issue', 'send', String(id), '--wait'], env, { timeoutMs: 180_000 });
    expect(result.code, result.stderr).toBe(0);

    const counts = perRecipient(smtp.messages());
    expect(counts.size).toBe(2000);
    for (const email of audience.confirmed) expect(counts.get(email)).toBe(1);

    const status = await issueStatus(env, id);
    expect(status.status).toBe('sent');
    expect(status.counts.sent).toBe(2000);
    expect(status.counts.failed).toBe(0);
    // The faults really happened: some deliveries needed more than one attempt.
    const retried = await db.db
      .selectFrom('deliveries')
      .where('attempts', '>', 1)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(retried.n).toBeGreaterThan(50);
    // A ceiling above the send's own 180 s, not a speed check: 2,000 messages with retries took over
    // 120 s at load ~20 on two cores.
  }, 240_000);

  it('marks a 550 failed, records a hard bounce, suppresses the address and never retries it', async () => {
    smtp = await startSmtpServer({ rejectAddresses: ['news-reader17@example.net'] });
    await seedAudience(db.db, 100);
    const env = senderEnv(db.url!, smtp.url);
    const id = await createIssue(env);
    const result = await runCli(['issue', 'send', String(id), '--wait'], env, { timeoutMs: 60_000 });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('1 of 100 deliveries failed permanently');

    const status = await issueStatus(env, id);
    expect(status.status).toBe('sent');
    expect(status.counts.sent).toBe(99);
    expect(status.counts.failed).toBe(1);
    expect(perRecipient(smtp.messages()).size).toBe(99);

    const failed = await db.db
      .selectFrom('deliveries')
      .selectAll()
      .where('email', '=', 'news-reader17@example.net')
      .executeTakeFirstOrThrow();
    expect(failed.status).toBe('failed');
    expect(failed.attempts).toBe(1);
    expect(failed.last_error).toContain('550');
    const events = await db.db.selectFrom('events').selectAll().execute();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'hard_bounce',
      source: 'smtp',
      email: 'news-reader17@example.net',
      delivery_id: failed.id,
      issue_id: id,
      reason: 'userunknown',
      status: '5.1.1',
    });
    expect(status.bounces).toEqual([
      expect.objectContaining({ reason: 'userunknown', count: 1, hard: true, status: '5.1.1' }),
    ]);
    const suppression = await db.db
      .selectFrom('suppressions')
      .selectAll()
      .where('email', '=', 'news-reader17@example.net')
      .executeTakeFirstOrThrow();
    expect(suppression.reason).toBe('hard_bounce');
  }, 120_000);

  it('a message refused after DATA or a 5.7.1 policy reply at RCPT fails that delivery, suppresses nobody, and issue status shows the reason', async () => {
    smtp = await startSmtpServer({
      rejectDataFor: ['news-reader5@example.net'],
      policyRejectAddresses: ['news-reader9@example.net'],
    });
    await seedAudience(db.db, 40);
    const env = senderEnv(db.url!, smtp.url);
    const id = await createIssue(env);
    const result = await runCli(['issue', 'send', String(id), '--wait'], env, { timeoutMs: 60_000 });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('2 of 40 deliveries failed permanently');
    const status = await issueStatus(env, id);
    expect(status.status).toBe('sent');
    expect(status.counts).toMatchObject({ sent: 38, failed: 2 });

    const failed = await db.db
      .selectFrom('deliveries')
      .select(['email', 'last_error', 'attempts'])
      .where('status', '=', 'failed')
      .orderBy('email')
      .execute();
    expect(failed.map((f) => f.email)).toEqual(['news-reader5@example.net', 'news-reader9@example.net']);
    expect(failed[0]!.last_error).toMatch(/smtp\.554: .*content looks like spam/);
    expect(failed[1]!.last_error).toMatch(/smtp\.550: .*5\.7\.1 .*Relay access denied/);
    expect(failed.every((f) => f.attempts === 1)).toBe(true);
    // Neither is held against the reader: the RCPT refusal is recorded as a soft bounce with its
    // reason (about our mail, not the address), and nobody is suppressed.
    const events = await db.db.selectFrom('events').selectAll().execute();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'soft_bounce',
      email: 'news-reader9@example.net',
      reason: 'norelaying',
      status: '5.7.1',
    });
    expect(status.bounces).toEqual([
      expect.objectContaining({ reason: 'norelaying', count: 1, hard: false, status: '5.7.1' }),
    ]);
    const table = await runCliInProcess(['issue', 'status', String(id)], env);
    expect(table.stdout).toMatch(/bounce reason\s+n\s+suppressed\s+status\s+latest diagnostic/);
    expect(table.stdout).toMatch(/norelaying\s+1\s+no\s+5\.7\.1\s+.*Relay access denied/);
    const suppressed = await db.db
      .selectFrom('suppressions')
      .select('email')
      .where('email', 'in', ['news-reader5@example.net', 'news-reader9@example.net'])
      .execute();
    expect(suppressed).toEqual([]);
  }, 120_000);

  it('a sender refused at MAIL FROM pauses the issue with the reason, and fails or suppresses nobody', async () => {
    smtp = await startSmtpServer({ rejectSenders: ['bounces@example.org'] });
    await seedAudience(db.db, 40);
    const env = senderEnv(db.url!, smtp.url);
    const id = await createIssue(env);
    const result = await runCli(['issue', 'send', String(id), '--wait'], env, { timeoutMs: 60_000 });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is paused: the mail provider refused to send: smtp\.550: .*MAIL FROM/);
    const status = await issueStatus(env, id);
    expect(status.status).toBe('paused');
    expect(status.pause_reason).toContain('Sender address rejected');
    expect(status.counts).toMatchObject({ failed: 0, sending: 0, sent: 0, queued: 40 });
    expect(smtp.messages()).toHaveLength(0);
    expect(await db.db.selectFrom('events').selectAll().execute()).toEqual([]);
    const bounced = await db.db
      .selectFrom('suppressions')
      .select('email')
      .where('reason', '=', 'hard_bounce')
      .execute();
    expect(bounced).toEqual([]);
  }, 120_000);

  it('pauses an issue whose permanent failures pass FAILURE_PAUSE_RATE, with the reason in status', async () => {
    const rejected = Array.from({ length: 60 }, (_, i) => `news-reader${i * 2 + 1}@example.net`);
    smtp = await startSmtpServer({ rejectAddresses: rejected });
    await seedAudience(db.db, 400);
    const env = senderEnv(db.url!, smtp.url, {
      SEND_RATE: '100',
      SEND_BATCH_SIZE: '20',
      FAILURE_PAUSE_RATE: '0.2',
    });
    const id = await createIssue(env);
    const result = await runCli(['issue', 'send', String(id), '--wait'], env, { timeoutMs: 60_000 });
    expect(result.code).toBe(1);
    const status = await issueStatus(env, id);
    expect(status.status).toBe('paused');
    expect(status.pause_reason).toMatch(/failed permanently .* above FAILURE_PAUSE_RATE 0\.2/);
    // It stopped well before the end of the list.
    expect(status.counts.queued).toBeGreaterThan(100);
  }, 120_000);

  it('stops mail to a reader who complains or unsubscribes while the issue is sending', async () => {
    smtp = await startSmtpServer();
    const audience = await seedAudience(db.db, 200);
    const env = senderEnv(db.url!, smtp.url, { SEND_RATE: '40', SEND_BATCH_SIZE: '10' });
    const id = await createIssue(env);
    const complainer = audience.confirmed[190]!;
    const leaver = audience.confirmed[195]!;
    const sending = runCli(['issue', 'send', String(id), '--wait'], env, { timeoutMs: 60_000 });
    await smtp.waitFor(5);
    // The bounce handler and the unsubscribe page write to the database; the worker meets them there.
    await db.db.insertInto('suppressions').values({ email: complainer, reason: 'complaint' }).execute();
    await sql`update subscriptions set status = 'unsubscribed', unsubscribed_at = now()
               where subscriber_id = (select id from subscribers where email = ${leaver})`.execute(db.db);
    const result = await sending;
    expect(result.code, result.stderr).toBe(0);
    const got = perRecipient(smtp.messages());
    expect(got.has(complainer)).toBe(false);
    expect(got.has(leaver)).toBe(false);
    expect(got.size).toBe(198);
    const status = await issueStatus(env, id);
    expect(status.counts).toMatchObject({ sent: 198, suppressed: 1, unsubscribed: 1 });
  }, 120_000);

  it('pauses the issue with the reason when the transport cannot send at all, and fails nobody', async () => {
    await seedAudience(db.db, 50);
    const outbox = join(mkdtempSync(join(tmpdir(), 'dm-fatal-')), 'outbox');
    const env = senderEnv(db.url!, `outbox:${outbox}`, { SEND_RATE: '5', LOG_LEVEL: 'info' });
    const id = await createIssue(env);
    expect((await runCliInProcess(['issue', 'send', String(id)], env)).code).toBe(0);
    const worker = spawnWorker(env);
    await until(
      async () => (existsSync(outbox) && readdirSync(outbox).length >= 2 ? true : undefined),
      30_000,
      'the first messages',
    );
    // The folder disappears and a file takes its place: no message can be written any more.
    rmSync(outbox, { recursive: true, force: true });
    writeFileSync(outbox, 'not a folder');
    await waitForIssue(db.db, id, 'paused', 30_000);
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    const status = await issueStatus(env, id);
    expect(status.pause_reason).toMatch(/^the mail provider refused to send: outbox\.enotdir/);
    expect(status.counts.failed).toBe(0);
    expect(status.counts.sending).toBe(0);
    expect(status.counts.queued).toBeGreaterThan(30);
    expect(worker.output()).toContain('issue_paused');
  }, 120_000);

  it('keeps every delivery queued while the server is down, and sends them all once it is back', async () => {
    // A port nobody listens on: every attempt is a refused connection, an outage of the server.
    const probe = await startSmtpServer();
    const deadPort = probe.port;
    await probe.close();
    await seedAudience(db.db, 20);
    const downEnv = senderEnv(db.url!, `smtp://127.0.0.1:${deadPort}`, {
      RETRY_BASE_SECONDS: '0.5',
      LOG_LEVEL: 'info',
    });
    const id = await createIssue(downEnv);
    expect((await runCliInProcess(['issue', 'send', String(id)], downEnv)).code).toBe(0);
    const worker = spawnWorker(downEnv);
    await until(
      async () => (worker.output().includes('"msg":"transport_unreachable"') ? true : undefined),
      30_000,
      'the worker to find the server unreachable',
    );
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    const down = await issueStatus(downEnv, id);
    expect(down.status).toBe('sending');
    expect(down.counts).toMatchObject({ queued: 20, sending: 0, sent: 0, failed: 0 });
    // Tries against a server that is not there are not attempts: an outage of any length fails nobody.
    const tried = await db.db
      .selectFrom('deliveries')
      .where('issue_id', '=', id)
      .where('attempts', '>', 0)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(tried.n)).toBe(0);

    smtp = await startSmtpServer();
    const upEnv = senderEnv(db.url!, smtp.url);
    const result = await runCli(['issue', 'send', String(id), '--wait'], upEnv, { timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('already sending');
    const got = perRecipient(smtp.messages());
    expect(got.size).toBe(20);
    expect([...got.values()].every((n) => n === 1)).toBe(true);
  }, 120_000);
});
