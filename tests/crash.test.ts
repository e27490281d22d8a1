import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from './helpers/cli.ts';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';
import {
  type Audience,
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

describe('a worker killed with SIGKILL mid-send', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let audience: Audience;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    smtp = await startSmtpServer();
    audience = await seedAudience(db.db, 2000);
  });
  afterAll(async () => {
    await killWorkers();
    await smtp?.close();
    await db?.close();
  });

  it('loses nothing over three kills; only recipients counted in resent_after_crash get two, at most the in-flight window per kill', async () => {
    const env = senderEnv(db.url!, smtp.url, {
      SEND_RATE: '400',
      SEND_BATCH_SIZE: '50',
      LEASE_SECONDS: '5',
      LOG_LEVEL: 'info',
    });
    const id = await createIssue(env);
    expect((await runCliInProcess(['issue', 'send', String(id)], env)).code).toBe(0);

    // Three kills at different points: early in the list, in the middle, and near the end.
    let window = 0;
    for (const killAt of [150, 800, 1500]) {
      const worker = spawnWorker(env);
      await smtp.waitFor(killAt, 60_000);
      worker.kill('SIGKILL');
      await exited(worker);
      const started = /"inFlightWindow":(\d+)/.exec(worker.output());
      window = Number(started?.[1]);
    }
    expect(window).toBe(100);
    const beforeRestart = await issueStatus(env, id);
    expect(beforeRestart.status).toBe('sending');
    expect(beforeRestart.counts.sent).toBeLessThan(2000);

    // A restarted worker resumes the sending issue by itself.
    const worker = spawnWorker(env);
    const done = await waitForIssue(db.db, id, 'sent', 90_000).then(() => issueStatus(env, id));
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);

    const got = perRecipient(smtp.messages());
    for (const email of audience.confirmed) expect(got.get(email) ?? 0).toBeGreaterThanOrEqual(1);
    expect(got.size).toBe(2000);

    const resent = await db.db
      .selectFrom('deliveries')
      .select('email')
      .where('issue_id', '=', id)
      .where('crash_resends', '>', 0)
      .execute();
    const resentEmails = new Set(resent.map((r) => r.email));
    const twice = [...got].filter(([, n]) => n > 1).map(([email]) => email);
    console.info(
      `crash test: resent_after_crash ${done.counts.resent_after_crash}, duplicates received ${twice.length}, in-flight window ${window} per kill`,
    );
    for (const email of twice) expect(resentEmails.has(email)).toBe(true);
    expect(Math.max(...got.values())).toBeLessThanOrEqual(4);
    expect(done.counts.resent_after_crash).toBe(resent.length);
    expect(done.counts.resent_after_crash).toBeGreaterThan(0);
    expect(done.counts.resent_after_crash).toBeLessThanOrEqual(3 * window);
    expect(done.counts).toMatchObject({ total: 2000, sent: 2000, queued: 0, sending: 0, failed: 0 });
  }, 240_000);
});
