import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, DeliveryStatus } from '../db/db.types.ts';
import type { BounceThresholds, EventOutcome, MailEvent } from './bounces.types.ts';

export interface DeliveryRef {
  id: number;
  issue_id: number;
  subscriber_id: number | null;
  email: string | null;
}

/**
 * Which delivery statuses an event may move a delivery out of. Events arrive out of order (SNS does not
 * keep order, a DSN can come days later), so an event only ever moves a delivery "forward": a Delivery
 * after a Bounce leaves it bounced, and nothing undoes a complaint.
 */
const NEXT_STATUS = {
  delivery: 'delivered',
  hard_bounce: 'bounced',
  soft_bounce: 'bounced',
  complaint: 'complained',
} as const;

const MAY_BECOME: Record<'delivered' | 'bounced' | 'complained', readonly DeliveryStatus[]> = {
  delivered: ['sent'],
  bounced: ['sending', 'sent', 'delivered'],
  complained: ['sending', 'sent', 'delivered', 'bounced'],
};

/** Records bounce, complaint and delivery events; updates deliveries, subscriptions and suppressions. */
export class BouncesRepository {
  constructor(private readonly db: Kysely<Database> | Transaction<Database>) {}

  /** Runs `work` in one transaction: either every change of one notification lands, or none does. */
  async transaction<T>(work: (repo: BouncesRepository) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return this.db.transaction().execute((trx) => work(new BouncesRepository(trx)));
  }

  /** Forgets SNS message ids received more than `ms` ago; returns how many. */
  async forgetSnsMessagesOlderThan(ms: number): Promise<number> {
    const result = await this.db
      .deleteFrom('sns_messages')
      .where('received_at', '<', new Date(Date.now() - ms))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Remembers an SNS message; false when it had been seen before (a replay or a re-delivery). */
  async rememberSnsMessage(message: { messageId: string; type: string; topicArn: string }): Promise<boolean> {
    const row = await this.db
      .insertInto('sns_messages')
      .values({ message_id: message.messageId, type: message.type, topic_arn: message.topicArn })
      .onConflict((oc) => oc.column('message_id').doNothing())
      .returning('message_id')
      .executeTakeFirst();
    return row !== undefined;
  }

  async applyEvent(event: MailEvent, thresholds: BounceThresholds): Promise<EventOutcome> {
    if (event.type === 'soft_bounce') {
      // Two soft bounces for one address handled at once must not both count below the limit.
      await sql`select pg_advisory_xact_lock(hashtext(${`soft:${event.email}`}))`.execute(this.db);
    }
    const recorded = await this.recordEvent(event);
    const outcome: EventOutcome = {
      event,
      recorded: recorded !== undefined,
      deliveryId: recorded?.delivery_id ?? null,
      issueId: recorded?.issue_id ?? null,
      suppressed: null,
    };
    if (!recorded) return outcome;

    if (event.type === 'hard_bounce') {
      outcome.suppressed = (await this.suppress(event.email, 'hard_bounce', event.detail))
        ? 'hard_bounce'
        : null;
    } else if (event.type === 'complaint') {
      await this.unsubscribeEverywhere(event.email);
      outcome.suppressed = (await this.suppress(event.email, 'complaint', event.detail)) ? 'complaint' : null;
    } else if (event.type === 'soft_bounce') {
      const recent = await this.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('email', '=', event.email)
        .where('type', '=', 'soft_bounce')
        .where('occurred_at', '>', sql<Date>`now() - make_interval(days => ${thresholds.softBounceDays})`)
        .executeTakeFirstOrThrow();
      if (Number(recent.n) >= thresholds.softBounceLimit) {
        const note = `${recent.n} soft bounces in ${thresholds.softBounceDays} days; last: ${event.detail}`;
        outcome.suppressed = (await this.suppress(event.email, 'soft_bounce_limit', note))
          ? 'soft_bounce_limit'
          : null;
      }
    }
    return outcome;
  }

  /** The delivery an event is about, by our id first, then the SES MessageId, then our Message-ID. */
  async findDelivery(
    event: Pick<MailEvent, 'deliveryId' | 'providerMessageId' | 'messageId'>,
  ): Promise<DeliveryRef | undefined> {
    const base = this.db.selectFrom('deliveries').select(['id', 'issue_id', 'subscriber_id', 'email']);
    if (event.deliveryId !== undefined) {
      const row = await base.where('id', '=', event.deliveryId).executeTakeFirst();
      if (row) return row;
    }
    if (event.providerMessageId) {
      const row = await base.where('provider_message_id', '=', event.providerMessageId).executeTakeFirst();
      if (row) return row;
    }
    if (event.messageId) {
      return base.where('message_id', '=', event.messageId).executeTakeFirst();
    }
    return undefined;
  }

  /**
   * One statement (this runs for every notification, so round trips count): find the delivery, insert
   * the event unless its external id is known, and move the delivery forward if the event allows.
   * Returns undefined for a replayed event, which then has changed nothing.
   */
  private async recordEvent(
    event: MailEvent,
  ): Promise<{ delivery_id: number | null; issue_id: number | null } | undefined> {
    const next = event.final === false ? null : NEXT_STATUS[event.type];
    const allowed = next ? [...MAY_BECOME[next]] : [];
    const detail = event.detail.slice(0, 1000);
    const deliveryId = event.deliveryId ?? null;
    const providerId = event.providerMessageId ?? null;
    const result = await sql<{ delivery_id: number | null; issue_id: number | null }>`
      with target as (
        select id, issue_id, subscriber_id from deliveries
        where id = ${deliveryId}::bigint
           or provider_message_id = ${providerId}::text
           or message_id = ${event.messageId ?? null}::text
        order by (id = ${deliveryId}::bigint) is true desc, (provider_message_id = ${providerId}::text) is true desc
        limit 1
      ),
      recorded as (
        insert into events (type, source, external_id, email, subscriber_id, delivery_id, issue_id, detail, payload, occurred_at)
        select ${event.type}::text, ${event.source}::text, ${event.externalId}::text, ${event.email}::text,
               coalesce(t.subscriber_id, (select id from subscribers where email = ${event.email}::text)),
               t.id, t.issue_id, ${detail}::text, ${JSON.stringify(event.payload ?? {})}::jsonb,
               ${event.occurredAt}::timestamptz
        from (values (1)) as one (x) left join target t on true
        on conflict (external_id) do nothing
        returning delivery_id, issue_id
      ),
      advanced as (
        update deliveries d
        set status = ${next}::text,
            delivered_at = case when ${next}::text = 'delivered' then ${event.occurredAt}::timestamptz else d.delivered_at end,
            last_error = case when ${next}::text = 'delivered' then d.last_error else ${detail}::text end,
            lease_until = case when ${next}::text = 'delivered' then d.lease_until end,
            updated_at = now()
        from recorded r
        where d.id = r.delivery_id and ${next}::text is not null and d.status = any(${allowed}::text[])
        returning d.id
      )
      select delivery_id, issue_id from recorded`.execute(this.db);
    return result.rows[0];
  }

  /** True when the address was not suppressed before. The first reason recorded is kept. */
  private async suppress(
    email: string,
    reason: 'hard_bounce' | 'soft_bounce_limit' | 'complaint',
    note: string,
  ): Promise<boolean> {
    const row = await this.db
      .insertInto('suppressions')
      .values({ email, reason, note: note.slice(0, 500) })
      .onConflict((oc) => oc.column('email').doNothing())
      .returning('email')
      .executeTakeFirst();
    return row !== undefined;
  }

  /** A complaint means "stop": every list, not only the one the complained-about issue came from. */
  private async unsubscribeEverywhere(email: string): Promise<void> {
    await this.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed', unsubscribed_at: sql`now()`, updated_at: sql`now()` })
      .where('subscriber_id', 'in', (eb) =>
        eb.selectFrom('subscribers').select('id').where('email', '=', email),
      )
      .where('status', '<>', 'unsubscribed')
      .execute();
  }
}
