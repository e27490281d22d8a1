import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { BouncesRepository } from '../src/bounces/bounces.repository.ts';
import { BouncesService } from '../src/bounces/bounces.service.ts';
import type { MailEvent } from '../src/bounces/bounces.types.ts';
import { parseSesNotification } from '../src/bounces/ses-events.parser.ts';
import { seedIssue } from './bounces.seed.ts';
import { describeEachEngine } from './helpers/test-db.ts';
import { sesFixture } from './sns.signer.ts';

const THRESHOLDS = { softBounceLimit: 3, softBounceDays: 30 };

function soft(email: string, providerMessageId: string, occurredAt = new Date()): MailEvent {
  return {
    type: 'soft_bounce',
    source: 'ses',
    externalId: `test:${randomUUID()}`,
    email,
    providerMessageId,
    detail: 'Transient/MailboxFull 4.2.2',
    occurredAt,
    payload: {},
  };
}

describeEachEngine('bounce events', (current) => {
  it(`${THRESHOLDS.softBounceLimit} soft bounces within ${THRESHOLDS.softBounceDays} days suppress the address; fewer do not`, async () => {
    const { db } = current();
    const email = `soft-${randomUUID().slice(0, 6)}@example.net`;
    const { deliveries } = await seedIssue(db, [email]);
    const repo = new BouncesRepository(db);
    const first = await repo.applyEvent(soft(email, deliveries[0]!.providerMessageId), THRESHOLDS);
    const second = await repo.applyEvent(soft(email, 'unknown-1'), THRESHOLDS);
    expect([first.suppressed, second.suppressed]).toEqual([null, null]);
    expect(
      await db.selectFrom('suppressions').select('email').where('email', '=', email).executeTakeFirst(),
    ).toBeUndefined();
    const third = await repo.applyEvent(soft(email, 'unknown-2'), THRESHOLDS);
    expect(third.suppressed).toBe('soft_bounce_limit');
    const row = await db
      .selectFrom('suppressions')
      .selectAll()
      .where('email', '=', email)
      .executeTakeFirstOrThrow();
    expect(row.reason).toBe('soft_bounce_limit');
    expect(row.note).toContain('3 soft bounces in 30 days');
  });

  it('soft bounces older than the window do not count', async () => {
    const { db } = current();
    const email = `old-soft-${randomUUID().slice(0, 6)}@example.net`;
    const repo = new BouncesRepository(db);
    const longAgo = new Date(Date.now() - 45 * 24 * 3600 * 1000);
    await repo.applyEvent(soft(email, 'a', longAgo), THRESHOLDS);
    await repo.applyEvent(soft(email, 'b', longAgo), THRESHOLDS);
    const recent = await repo.applyEvent(soft(email, 'c'), THRESHOLDS);
    expect(recent.suppressed).toBeNull();
    expect(
      await db.selectFrom('suppressions').select('email').where('email', '=', email).executeTakeFirst(),
    ).toBeUndefined();
  });

  it('an event recorded twice changes nothing the second time', async () => {
    const { db } = current();
    const email = `dup-${randomUUID().slice(0, 6)}@example.net`;
    const repo = new BouncesRepository(db);
    const event = soft(email, 'x');
    expect((await repo.applyEvent(event, THRESHOLDS)).recorded).toBe(true);
    expect((await repo.applyEvent(event, THRESHOLDS)).recorded).toBe(false);
    expect((await repo.applyEvent(event, THRESHOLDS)).recorded).toBe(false);
    const n = await db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('email', '=', email)
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(1);
  });

  it('a bounce for an address we never mailed is still recorded and suppresses it', async () => {
    const { db } = current();
    const parsed = parseSesNotification(
      JSON.stringify(
        sesFixture('bounce', {
          EMAIL: 'Stranger@Example.NET',
          SES_MESSAGE_ID: 'never-sent',
          FEEDBACK_ID: randomUUID(),
          TIMESTAMP: new Date().toISOString(),
          BOUNCE_TYPE: 'Permanent',
          BOUNCE_SUBTYPE: 'General',
          STATUS: '5.1.1',
          DIAGNOSTIC: 'unknown',
        }),
      ),
      randomUUID(),
    );
    const outcome = await new BouncesRepository(db).applyEvent(parsed.events[0]!, THRESHOLDS);
    expect(outcome).toMatchObject({ recorded: true, deliveryId: null, suppressed: 'hard_bounce' });
    const row = await db
      .selectFrom('suppressions')
      .selectAll()
      .where('email', '=', 'stranger@example.net')
      .executeTakeFirst();
    expect(row?.reason).toBe('hard_bounce');
  });

  it('a complaint after a bounce wins; a bounce after a complaint does not undo it', async () => {
    const { db } = current();
    const { deliveries } = await seedIssue(db, [
      `order-a-${randomUUID().slice(0, 6)}@example.net`,
      `order-b-${randomUUID().slice(0, 6)}@example.net`,
    ]);
    const [a, b] = deliveries as [(typeof deliveries)[0], (typeof deliveries)[0]];
    const repo = new BouncesRepository(db);
    const hard = (d: typeof a): MailEvent => ({ ...soft(d.email, d.providerMessageId), type: 'hard_bounce' });
    const complaint = (d: typeof a): MailEvent => ({
      ...soft(d.email, d.providerMessageId),
      type: 'complaint',
    });
    await repo.applyEvent(hard(a), THRESHOLDS);
    await repo.applyEvent(complaint(a), THRESHOLDS);
    await repo.applyEvent(complaint(b), THRESHOLDS);
    await repo.applyEvent(hard(b), THRESHOLDS);
    const rows = await db
      .selectFrom('deliveries')
      .select(['id', 'status'])
      .where('id', 'in', [a.id, b.id])
      .orderBy('id')
      .execute();
    expect(rows.map((r) => r.status)).toEqual(['complained', 'complained']);
    // The first reason recorded stays: the address is suppressed either way.
    const reasons = await db
      .selectFrom('suppressions')
      .select(['email', 'reason'])
      .where('email', 'in', [a.email, b.email])
      .orderBy('email')
      .execute();
    expect(reasons.map((r) => r.reason)).toEqual(['hard_bounce', 'complaint']);
  });

  it('two soft bounces for one address recorded at the same time still reach the limit', async () => {
    const { db } = current();
    const email = `race-${randomUUID().slice(0, 6)}@example.net`;
    const repo = new BouncesRepository(db);
    await repo.applyEvent(soft(email, 'r0'), THRESHOLDS);
    const outcomes = await Promise.all(
      [1, 2].map((i) => repo.transaction((tx) => tx.applyEvent(soft(email, `r${i}`), THRESHOLDS))),
    );
    expect(outcomes.filter((o) => o.suppressed === 'soft_bounce_limit')).toHaveLength(1);
    const n = await sql<{
      n: number;
    }>`select count(*)::int as n from suppressions where email = ${email}`.execute(db);
    expect(n.rows[0]?.n).toBe(1);
  });

  it('SNS message ids are forgotten only once a replay would fail the timestamp check anyway', async () => {
    const { db } = current();
    const old = `old-${randomUUID()}`;
    const recent = `recent-${randomUUID()}`;
    await db
      .insertInto('sns_messages')
      .values([
        {
          message_id: old,
          type: 'Notification',
          topic_arn: 't',
          received_at: new Date(Date.now() - 2 * 3600 * 1000),
        },
        {
          message_id: recent,
          type: 'Notification',
          topic_arn: 't',
          received_at: new Date(Date.now() - 50 * 60 * 1000),
        },
      ])
      .execute();
    expect(await new BouncesService(db, THRESHOLDS).forgetOldSnsMessages()).toBeGreaterThanOrEqual(1);
    const left = await db
      .selectFrom('sns_messages')
      .select('message_id')
      .where('message_id', 'in', [old, recent])
      .execute();
    expect(left.map((r) => r.message_id)).toEqual([recent]);
  });
});
