import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BouncesRepository, type Notification } from '../src/bounces/bounces.repository.ts';
import type { EventOutcome, MailEvent } from '../src/bounces/bounces.types.ts';
import type { BounceReason } from '../src/core/bounce-reason.ts';
import type { Database } from '../src/db/db.types.ts';
import { type SeededDelivery, seedIssue, snapshot } from './bounces.seed.ts';
import { createTestDatabase, describeEachEngine, type TestDatabase } from './helpers/test-db.ts';

const THRESHOLDS = { softBounceLimit: 3, softBounceDays: 30 };

/** An SES-like event about a seeded delivery (or, with a bare address, about no delivery of ours). */
function event(
  type: MailEvent['type'],
  to: SeededDelivery | string,
  extra: Partial<MailEvent> & { reason?: BounceReason } = {},
): MailEvent {
  const { reason, ...rest } = extra;
  const email = typeof to === 'string' ? to : to.email;
  return {
    type,
    source: 'ses',
    externalId: `test:${type}:${randomUUID()}`,
    email,
    ...(typeof to === 'string' ? {} : { providerMessageId: to.providerMessageId }),
    detail: `${type} ${reason ?? ''}`.trim(),
    ...(reason ? { classified: { reason, status: '4.2.2', diagnostic: reason } } : {}),
    ...(type === 'hard_bounce' ? { suppress: true } : {}),
    occurredAt: new Date(),
    payload: { test: true },
    ...rest,
  };
}

const sns = (messageId: string) => ({ messageId, type: 'Notification', topicArn: 'arn:aws:sns:test' });

/** An outcome as compared: which event, and what it did. */
const summary = (o: EventOutcome[] | 'duplicate') =>
  o === 'duplicate'
    ? 'duplicate'
    : o.map((e) => ({
        externalId: e.event.externalId,
        recorded: e.recorded,
        deliveryId: e.deliveryId,
        issueId: e.issueId,
        suppressed: e.suppressed,
      }));

/**
 * Runs `work` in a transaction that is rolled back, returning what it returned and the state it
 * saw. Events are listed by address, each address's in the order they were recorded: a batch
 * records the events about different addresses in its own order (round by round), which no rule
 * depends on.
 */
async function rolledBack<T>(
  db: Kysely<Database>,
  work: (repo: BouncesRepository) => Promise<T>,
): Promise<{ result: T; state: unknown }> {
  const rollback = new Error('rollback');
  let seen: { result: T; state: unknown } | undefined;
  await db
    .transaction()
    .execute(async (trx) => {
      const result = await work(new BouncesRepository(trx));
      const state = (await snapshot(trx)) as { events: { email: string | null }[] };
      state.events.sort((x, y) => (x.email ?? '').localeCompare(y.email ?? ''));
      seen = { result, state };
      throw rollback;
    })
    .catch((error: unknown) => {
      if (error !== rollback) throw error;
    });
  return seen!;
}

describeEachEngine('a batch of notifications', (current) => {
  it('changes the database and answers each notification exactly as applying them one after the other would', async () => {
    const { db } = current();
    const tag = randomUUID().slice(0, 6);
    const { deliveries } = await seedIssue(
      db,
      ['a', 'b', 'c', 'd', 'e'].map((x) => `batch-${x}-${tag}@example.net`),
    );
    const [a, b, c, d, e] = deliveries as SeededDelivery[] as [
      SeededDelivery,
      SeededDelivery,
      SeededDelivery,
      SeededDelivery,
      SeededDelivery,
    ];
    const stranger = `stranger-${tag}@example.net`;
    const [s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11] = Array.from({ length: 11 }, (): string =>
      randomUUID(),
    );
    const delivered = event('delivery', a);
    const both = [
      event('hard_bounce', d),
      event('hard_bounce', stranger, { providerMessageId: d.providerMessageId }),
    ];
    const notifications: Notification[] = [
      { sns: sns(s1!), events: [delivered] },
      { sns: sns(s2!), events: [event('hard_bounce', a)] },
      // the same SNS message again, and the same event under another SNS message
      { sns: sns(s1!), events: [delivered] },
      { sns: sns(s3!), events: [delivered] },
      // soft bounces of b: two about the mailbox, one about our mail (never counts), the third counting one
      { events: [event('soft_bounce', b, { reason: 'mailboxfull' })] },
      { sns: sns(s4!), events: [event('soft_bounce', b, { reason: 'mailboxfull' })] },
      { sns: sns(s5!), events: [event('soft_bounce', b, { reason: 'blocked' })] },
      { sns: sns(s6!), events: [event('soft_bounce', b, { reason: 'mailboxfull' })] },
      { sns: sns(s7!), events: [event('complaint', c)] },
      // one message naming two recipients: only the delivery's own address is acted on; then again
      { sns: sns(s8!), events: both },
      { sns: sns(s8!), events: both.map((e) => ({ ...e, externalId: `${e.externalId}:again` })) },
      // an SNS message without events (an Open event), twice
      { sns: sns(s9!), events: [] },
      { sns: sns(s9!), events: [] },
      // a Delivery after the bounce of the same message
      { sns: sns(s10!), events: [event('delivery', d)] },
      // a report with two soft bounces of one address (applied in their order) and a stranger's
      // hard bounce; then the address's third soft bounce
      {
        events: [
          event('soft_bounce', e, { reason: 'mailboxfull' }),
          event('soft_bounce', e, { reason: 'mailboxfull' }),
          event('hard_bounce', stranger),
        ],
      },
      { sns: sns(s11!), events: [event('soft_bounce', e, { reason: 'suspend' })] },
    ];

    const oneByOne = await rolledBack(db, async (repo) => {
      const outcomes: (EventOutcome[] | 'duplicate')[] = [];
      for (const n of notifications) outcomes.push(await repo.applyNotification(n.sns, n.events, THRESHOLDS));
      return outcomes;
    });
    const batched = await rolledBack(db, (repo) => repo.applyNotifications(notifications, THRESHOLDS));

    expect(batched.result.map(summary)).toEqual(oneByOne.result.map(summary));
    expect(batched.state).toEqual(oneByOne.state);

    // What that is, so the comparison is not between two wrong answers.
    const outcomes = batched.result;
    expect(outcomes.map((o) => (o === 'duplicate' ? o : o.map((x) => x.recorded)))).toEqual([
      [true],
      [true],
      'duplicate',
      [false],
      [true],
      [true],
      [true],
      [true],
      [true],
      [true, false],
      'duplicate',
      [],
      'duplicate',
      [true],
      [true, true, true],
      [true],
    ]);
    expect(outcomes.map((o) => (o === 'duplicate' ? o : o.map((x) => x.suppressed)))).toEqual([
      [null],
      ['hard_bounce'],
      'duplicate',
      [null],
      [null],
      [null],
      [null],
      ['soft_bounce_limit'],
      ['complaint'],
      ['hard_bounce', null],
      'duplicate',
      [],
      'duplicate',
      [null],
      [null, null, 'hard_bounce'],
      ['soft_bounce_limit'],
    ]);
    expect(outcomes[0]).toMatchObject([{ deliveryId: a.id, issueId: a.issueId, event: delivered }]);
    const state = batched.state as {
      deliveries: { id: number; status: string }[];
      suppressions: { email: string; reason: string }[];
      sns: { message_id: string }[];
      subscriptions: { subscriber_id: number; status: string }[];
    };
    const status = (x: SeededDelivery) => state.deliveries.find((r) => r.id === x.id)?.status;
    expect([status(a), status(b), status(c), status(d), status(e)]).toEqual([
      'bounced',
      'bounced',
      'complained',
      'bounced',
      'bounced',
    ]);
    expect(state.suppressions.filter((s) => s.email.endsWith(`-${tag}@example.net`))).toEqual([
      { email: a.email, reason: 'hard_bounce' },
      { email: b.email, reason: 'soft_bounce_limit' },
      { email: c.email, reason: 'complaint' },
      { email: d.email, reason: 'hard_bounce' },
      { email: e.email, reason: 'soft_bounce_limit' },
      { email: stranger, reason: 'hard_bounce' },
    ]);
    expect(
      state.sns.filter((s) => [s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11].includes(s.message_id)),
    ).toHaveLength(11);
    expect(state.subscriptions.find((s) => s.subscriber_id === c.subscriberId)?.status).toBe('unsubscribed');
  });

  it('a notification that comes again in the same batch under its SNS message id changes nothing, whatever its events say', async () => {
    const { db } = current();
    const { deliveries } = await seedIssue(db, [`again-${randomUUID().slice(0, 6)}@example.net`]);
    const d = deliveries[0]!;
    const id = randomUUID();
    const outcomes = await new BouncesRepository(db).applyNotifications(
      [
        { sns: sns(id), events: [event('delivery', d)] },
        { sns: sns(id), events: [event('complaint', d)] },
      ],
      THRESHOLDS,
    );
    expect(outcomes.map(summary)).toEqual([
      [expect.objectContaining({ recorded: true, deliveryId: d.id })],
      'duplicate',
    ]);
    const row = await db
      .selectFrom('deliveries')
      .select('status')
      .where('id', '=', d.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('delivered');
    const events = await db.selectFrom('events').select('type').where('delivery_id', '=', d.id).execute();
    expect(events.map((e) => e.type)).toEqual(['delivery']);
  });
});

describe('batches at the same time (PostgreSQL)', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await database?.close();
  });

  /** Waits until this database's sessions wait for at least `n` locks. */
  async function waitingForLocks(n: number): Promise<void> {
    for (;;) {
      const rows = await sql<{ n: number }>`
        select count(*)::int as n from pg_locks
         where not granted
           and pid in (select pid from pg_stat_activity where datname = current_database())
      `.execute(database.db);
      if (rows.rows[0]!.n >= n) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it('two batches about the same deliveries in opposite orders wait for each other instead of deadlocking', async () => {
    const { db } = database;
    const tag = randomUUID().slice(0, 6);
    const { deliveries } = await seedIssue(db, [`turn-a-${tag}@example.net`, `turn-b-${tag}@example.net`]);
    const [a, b] = deliveries as [SeededDelivery, SeededDelivery];
    const repo = new BouncesRepository(db);
    // Another writer (a worker recording a send, say) holds b's row. The first batch changes b's
    // delivery, then a's; the second a's, then b's. (A batch changes an address's deliveries in the
    // order of its events about that address: a first soft bounce about the other address, matching
    // no delivery, puts each batch's second change in a round of its own.) The first batch waits for
    // b; the second changes a and waits for b behind it. Taking locks as they come, the first, once
    // given b, would wait for a: a deadlock, one batch lost. Taking every address's lock first, in
    // one order, they only wait.
    const unmatched = (x: SeededDelivery) => event('soft_bounce', x.email, { reason: 'mailboxfull' });
    let batches: Promise<(EventOutcome[] | 'duplicate')[]>[] = [];
    await db.transaction().execute(async (trx) => {
      await sql`select 1 from deliveries where id = ${b.id} for no key update`.execute(trx);
      const bFirst = repo.applyNotifications(
        [
          { sns: sns(randomUUID()), events: [unmatched(a)] },
          { sns: sns(randomUUID()), events: [event('hard_bounce', b)] },
          { sns: sns(randomUUID()), events: [event('hard_bounce', a)] },
        ],
        THRESHOLDS,
      );
      await waitingForLocks(1);
      const aFirst = repo.applyNotifications(
        [
          { sns: sns(randomUUID()), events: [event('complaint', a)] },
          { sns: sns(randomUUID()), events: [unmatched(b)] },
          { sns: sns(randomUUID()), events: [event('complaint', b)] },
        ],
        THRESHOLDS,
      );
      await waitingForLocks(2);
      batches = [bFirst, aFirst];
    });
    const results = await Promise.allSettled(batches);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    // A complaint wins over a bounce, whichever came first.
    const rows = await db
      .selectFrom('deliveries')
      .select('status')
      .where('id', 'in', [a.id, b.id])
      .orderBy('id')
      .execute();
    expect(rows.map((r) => r.status)).toEqual(['complained', 'complained']);
  });
});
