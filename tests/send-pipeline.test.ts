import type { KyselyPlugin } from 'kysely';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.loader.ts';
import { DeliveryWorker } from '../src/delivery/deliveries.worker.ts';
import { messageBuilderFor } from '../src/delivery/worker.runtime.ts';
import { IssueLifecycle } from '../src/issues/issues.lifecycle.ts';
import { IssuesService } from '../src/issues/issues.service.ts';
import { createTransport } from '../src/transports/transport.factory.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';
import {
  createIssue,
  DIGEST,
  issueStatus,
  killWorkers,
  perRecipient,
  seedAudience,
  senderEnv,
  spawnWorker,
  waitForIssue,
} from './sender.helpers.ts';

describe('the send pipeline across issues and faults', () => {
  let db: TestDatabase | undefined;
  let smtp: TestSmtpServer | undefined;

  afterEach(async () => {
    await killWorkers();
    await smtp?.close();
    smtp = undefined;
    await db?.close();
    db = undefined;
  });
  afterAll(killWorkers);

  it('a small issue is marked sent as soon as it is done, while a larger one is still sending', async () => {
    db = await createTestDatabase('postgres');
    smtp = await startSmtpServer();
    await seedAudience(db.db, 300, 'news');
    const small = await seedAudience(db.db, 3, 'small');
    // Ten a second: the large issue takes half a minute, the small one a moment.
    const env = senderEnv(db.url!, smtp.url, { SEND_RATE: '10' });
    const largeId = await createIssue(env);
    const created = await runCliInProcess(['issue', 'create', DIGEST, '--list', 'small'], env);
    expect(created.code, created.stderr).toBe(0);
    const smallId = Number(created.stdout.trim());
    for (const id of [largeId, smallId]) {
      const sent = await runCliInProcess(['issue', 'send', String(id)], env);
      expect(sent.code, sent.stderr).toBe(0);
    }
    spawnWorker(env);

    await waitForIssue(db.db, smallId, 'sent', 60_000);
    const large = await issueStatus(env, largeId);
    expect(large.status).toBe('sending');
    expect(large.counts.queued).toBeGreaterThan(0);
    const smallStatus = await issueStatus(env, smallId);
    expect(smallStatus.counts).toMatchObject({ total: 3, sent: 3 });
    const got = perRecipient(smtp.messages());
    for (const email of small.confirmed) expect(got.get(email)).toBe(1);
  }, 120_000);

  it('a database error in the failure-rate check never puts a committed batch back', async () => {
    db = await createTestDatabase('postgres');
    const rejected = ['news-reader3@example.net', 'news-reader30@example.net', 'news-reader60@example.net'];
    smtp = await startSmtpServer({ rejectAddresses: rejected });
    const audience = await seedAudience(db.db, 80);
    const config = loadConfig(
      senderEnv(db.url!, smtp.url, { SEND_BATCH_SIZE: '10', SEND_CONCURRENCY: '4', FAILURE_PAUSE_RATE: '1' }),
    );
    const issue = await new IssuesService(db.db, config).create({ digestPath: DIGEST, listSlug: 'news' });
    await new IssuesService(db.db, config).send(String(issue.id));

    // The database fails the failure-rate query (and only that one); every other statement is real.
    let checksFailed = 0;
    const failingCheck: KyselyPlugin = {
      transformQuery(args) {
        if (JSON.stringify(args.node).includes('"attempted"')) {
          checksFailed++;
          throw new Error('Connection terminated unexpectedly');
        }
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const events: string[] = [];
    const transport = createTransport(config);
    const worker = new DeliveryWorker({
      db: db.db.withPlugin(failingCheck),
      config,
      transport,
      build: messageBuilderFor(config),
      issues: new IssueLifecycle(db.db),
      log: (event) => events.push(event),
      idleMs: 50,
    });
    void worker.start();
    try {
      await waitForIssue(db.db, issue.id, 'sent', 60_000);
    } finally {
      await worker.stop();
      await transport.close();
    }

    expect(checksFailed).toBeGreaterThan(0);
    expect(events).toContain('failure_check_failed');
    // Results that were committed are not recorded again as if the commit had failed.
    expect(events).not.toContain('record_failed');
    const got = perRecipient(smtp.messages());
    expect(got.size).toBe(77);
    for (const email of audience.confirmed)
      expect(got.get(email) ?? 0).toBe(rejected.includes(email) ? 0 : 1);
    const counts = await new IssuesService(db.db, config).status(issue.id);
    expect(counts.counts).toMatchObject({ total: 80, sent: 77, failed: 3, queued: 0, sending: 0 });
  }, 120_000);
});

describe('LEASE_SECONDS', () => {
  const base = senderEnv('postgres://unused', 'outbox:/tmp/unused');

  it('is refused below 5 seconds with what is expected, since a lease is renewed every third of it', () => {
    expect(() => loadConfig({ ...base, LEASE_SECONDS: '2' })).toThrow(
      'invalid setting LEASE_SECONDS: expected a whole number of seconds, at least 5 (got "2")',
    );
    expect(() => loadConfig({ ...base, LEASE_SECONDS: '4.5' })).toThrow(
      /LEASE_SECONDS: expected a whole number/,
    );
    expect(loadConfig({ ...base, LEASE_SECONDS: '5' }).LEASE_SECONDS).toBe(5);
    expect(loadConfig(base).LEASE_SECONDS).toBe(30);
  });
});
