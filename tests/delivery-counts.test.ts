import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { BouncesRepository } from '../src/bounces/bounces.repository.ts';
import type { MailEvent } from '../src/bounces/bounces.types.ts';
import type { Database } from '../src/db/db.types.ts';
import { DeliveriesRepository } from '../src/delivery/deliveries.repository.ts';
import { runCli, runCliInProcess } from './helpers/cli.ts';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';
import { createTestDatabase, describeEachEngine, type TestDatabase } from './helpers/test-db.ts';
import { createIssue, issueStatus, seedAudience, senderEnv } from './sender.helpers.ts';
import type { Kysely } from 'kysely';

/** What `issue status` would say if it counted the rows themselves. */
async function countedByHand(db: Kysely<Database>, issueId: number): Promise<Record<string, number>> {
  const rows = await sql<{ status: string; n: number }>`
    select status, count(*)::int as n from deliveries where issue_id = ${issueId} group by status`.execute(
    db,
  );
  const resent = await sql<{ n: number }>`
    select count(*)::int as n from deliveries where issue_id = ${issueId} and crash_resends > 0`.execute(db);
  const counts: Record<string, number> = {
    total: 0,
    queued: 0,
    sending: 0,
    sent: 0,
    delivered: 0,
    failed: 0,
    bounced: 0,
    complained: 0,
    suppressed: 0,
    unsubscribed: 0,
    resent_after_crash: resent.rows[0]!.n,
  };
  for (const row of rows.rows) {
    counts[row.status] = row.n;
    counts.total! += row.n;
  }
  return counts;
}

function event(type: MailEvent['type'], email: string, deliveryId: number): MailEvent {
  return {
    type,
    source: 'ses',
    externalId: `counts-${type}-${deliveryId}`,
    email,
    deliveryId,
    detail: type,
    occurredAt: new Date(),
    payload: {},
  };
}

describe('issue status reads the counts kept per issue and status', () => {
  let database: TestDatabase | undefined;
  let smtp: TestSmtpServer | undefined;
  afterAll(async () => {
    await smtp?.close();
    await database?.close();
  });

  it('after a send with hard bounces at SMTP time, SES bounces, complaints, deliveries and an erasure, the counts equal count(*)', async () => {
    database = await createTestDatabase('postgres');
    const audience = await seedAudience(database.db, 40);
    const refused = audience.confirmed.slice(0, 3);
    smtp = await startSmtpServer({ rejectAddresses: refused });
    const env = senderEnv(database.url!, smtp.url, { FAILURE_PAUSE_RATE: '1' });
    const issueId = await createIssue(env);
    const sent = await runCli(['issue', 'send', String(issueId), '--wait'], env, { timeoutMs: 120_000 });
    expect(sent.stderr).not.toMatch(/internal error/);

    const deliveries = await database.db
      .selectFrom('deliveries')
      .select(['id', 'email', 'status'])
      .where('issue_id', '=', issueId)
      .where('status', '=', 'sent')
      .orderBy('id')
      .execute();
    expect(deliveries.length).toBe(37);
    const bounces = new BouncesRepository(database.db);
    const thresholds = { softBounceLimit: 3, softBounceDays: 30 };
    const pick = (i: number) => deliveries[i]!;
    for (let i = 0; i < 10; i++) {
      await bounces.applyNotification(undefined, [event('delivery', pick(i).email!, pick(i).id)], thresholds);
    }
    for (let i = 5; i < 9; i++) {
      await bounces.applyNotification(
        undefined,
        [event('hard_bounce', pick(i).email!, pick(i).id)],
        thresholds,
      );
    }
    for (let i = 8; i < 12; i++) {
      await bounces.applyNotification(
        undefined,
        [event('complaint', pick(i).email!, pick(i).id)],
        thresholds,
      );
    }
    await bounces.applyNotification(
      undefined,
      [event('soft_bounce', pick(20).email!, pick(20).id)],
      thresholds,
    );
    const erased = await runCliInProcess(['subscribers', 'remove', pick(30).email!, '--yes'], env);
    expect(erased.code, erased.stderr).toBe(0);

    const status = await issueStatus(env, issueId);
    const byHand = await countedByHand(database.db, issueId);
    expect(status.counts).toEqual(byHand);
    // 0–4 delivered; 5–7 hard-bounced and 20 soft-bounced; 8–11 complained (8 after its bounce).
    expect(byHand).toMatchObject({ total: 40, failed: 3, complained: 4, bounced: 4, delivered: 5 });
  });
});

describeEachEngine('delivery counts', (current) => {
  it('enqueue writes its own count, and a claim, results and a compaction keep them equal to count(*)', async () => {
    const db = current().db;
    const audience = await seedAudience(db, 25, 'counts');
    const issue = await db
      .insertInto('issues')
      .values({
        list_id: audience.listId,
        subject: 's',
        title: 't',
        digest_source: '',
        digest_hash: 'h',
        status: 'sending',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const repo = new DeliveriesRepository(db);
    const enqueued = await db.transaction().execute((trx) => repo.enqueue(trx, issue.id));
    expect(enqueued).toBe(25);
    expect(await repo.counts(issue.id)).toEqual(await countedByHand(db, issue.id));

    const claimed = await repo.claim(issue.id, 'w1', 10, 30);
    expect(claimed).toHaveLength(10);
    await repo.record(
      'w1',
      {
        sent: claimed
          .slice(0, 6)
          .map((d) => ({ id: d.id, messageId: `<${d.id}@x>`, providerMessageId: '', sentAt: new Date() })),
        retry: claimed.slice(6, 8).map((d) => ({ id: d.id, nextAttemptAt: new Date(), error: '451' })),
        failed: claimed.slice(8).map((d) => ({ id: d.id, error: '550 no such user', hardBounce: true })),
      },
      'smtp',
    );
    expect(await repo.counts(issue.id)).toEqual(await countedByHand(db, issue.id));
    await repo.compactCounts();
    const rows = await db
      .selectFrom('delivery_counts')
      .select('status')
      .where('issue_id', '=', issue.id)
      .execute();
    expect(new Set(rows.map((r) => r.status)).size).toBe(rows.length);
    expect(await repo.counts(issue.id)).toEqual(await countedByHand(db, issue.id));
  });
});
