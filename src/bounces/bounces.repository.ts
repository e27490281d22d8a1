import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, DeliveryStatus } from '../db/db.types.ts';
import type { BounceThresholds, EventOutcome, MailEvent } from './bounces.types.ts';

export interface SnsRef {
  messageId: string;
  type: string;
  topicArn: string;
}

interface EventRow {
  /** The SNS message was new (false for a replay, and when no SNS message was given). */
  fresh: boolean;
  /** The event was new (false for a replay: nothing changed). */
  recorded: boolean;
  delivery_id: number | null;
  issue_id: number | null;
  suppressed: 'hard_bounce' | 'complaint' | null;
}

function outcomeOf(event: MailEvent, row: EventRow): EventOutcome {
  return {
    event,
    recorded: row.recorded,
    deliveryId: row.delivery_id,
    issueId: row.issue_id,
    suppressed: row.suppressed,
  };
}

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

/** Soft-bounce reasons about the recipient's mailbox, the only ones the soft-bounce limit counts. */
const MAILBOX_REASONS = ['mailboxfull', 'suspend', 'exceedlimit', 'undefined'];

/** One bounce or complaint as `bounces ls` shows it. */
export interface BounceEventRow {
  id: number;
  occurredAt: Date;
  type: string;
  source: string;
  email: string | null;
  issueId: number | null;
  deliveryId: number | null;
  reason: string | null;
  status: string | null;
  diagnostic: string | null;
}

/** Records bounce, complaint and delivery events; updates deliveries, subscriptions and suppressions. */
export class BouncesRepository {
  constructor(private readonly db: Kysely<Database> | Transaction<Database>) {}

  /** Runs `work` in one transaction: either every change of one notification lands, or none does. */
  async transaction<T>(work: (repo: BouncesRepository) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return this.db.transaction().execute((trx) => work(new BouncesRepository(trx)));
  }

  /** The newest bounce and complaint events, optionally of one issue or one reason. */
  async recentBounces(filter: {
    issueId?: number;
    reason?: string;
    limit: number;
  }): Promise<BounceEventRow[]> {
    let query = this.db
      .selectFrom('events')
      .select([
        'id',
        'occurred_at',
        'type',
        'source',
        'email',
        'issue_id',
        'delivery_id',
        'reason',
        'status',
        'diagnostic',
        'detail',
      ])
      .where('type', 'in', ['hard_bounce', 'soft_bounce', 'complaint']);
    if (filter.issueId !== undefined) query = query.where('issue_id', '=', filter.issueId);
    if (filter.reason !== undefined) query = query.where('reason', '=', filter.reason);
    const rows = await query
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit)
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      occurredAt: new Date(r.occurred_at as unknown as string),
      type: r.type,
      source: r.source,
      email: r.email,
      issueId: r.issue_id,
      deliveryId: r.delivery_id === null ? null : Number(r.delivery_id),
      reason: r.reason,
      status: r.status,
      // Rows from before reasons were recorded keep their words in `detail`.
      diagnostic: r.diagnostic ?? r.detail,
    }));
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
  async rememberSnsMessage(message: SnsRef): Promise<boolean> {
    const row = await this.db
      .insertInto('sns_messages')
      .values({ message_id: message.messageId, type: message.type, topic_arn: message.topicArn })
      .onConflict((oc) => oc.column('message_id').doNothing())
      .returning('message_id')
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Applies everything one notification says, atomically; 'duplicate' (and nothing changed) when the
   * SNS message was handled before. The usual notification, one recipient and not a soft bounce, is a
   * single statement, which is atomic by itself: at a thousand notifications a second, round trips
   * are what costs.
   */
  async applyNotification(
    sns: SnsRef | undefined,
    events: MailEvent[],
    thresholds: BounceThresholds,
  ): Promise<EventOutcome[] | 'duplicate'> {
    const only = events.length === 1 ? events[0] : undefined;
    if (only && only.type !== 'soft_bounce') {
      const row = await this.applyEventStatement(only, sns);
      return sns && !row.fresh ? 'duplicate' : [outcomeOf(only, row)];
    }
    if (events.length === 0) {
      if (!sns) return [];
      return (await this.rememberSnsMessage(sns)) ? [] : 'duplicate';
    }
    return this.transaction(async (repo) => {
      if (sns && !(await repo.rememberSnsMessage(sns))) return 'duplicate';
      const outcomes: EventOutcome[] = [];
      for (const event of events) outcomes.push(await repo.applyEvent(event, thresholds));
      return outcomes;
    });
  }

  /** Applies one event; call inside a transaction when it is one of several. */
  async applyEvent(event: MailEvent, thresholds: BounceThresholds): Promise<EventOutcome> {
    if (event.type === 'soft_bounce') {
      // Two soft bounces for one address handled at once must not both count below the limit.
      await sql`select pg_advisory_xact_lock(hashtext(${`soft:${event.email}`}))`.execute(this.db);
    }
    const outcome = outcomeOf(event, await this.applyEventStatement(event, undefined));
    if (!outcome.recorded || event.type !== 'soft_bounce') return outcome;

    const recent = await this.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('email', '=', event.email)
      .where('type', '=', 'soft_bounce')
      // Only soft bounces about the mailbox (full, disabled, over its limit) add up to a suppression;
      // a block, a spam verdict or a policy rejection is about our mail and never counts against the
      // reader. Rows from before reasons were recorded count as before.
      .where((eb) => eb.or([eb('reason', 'is', null), eb('reason', 'in', MAILBOX_REASONS)]))
      .where('occurred_at', '>', sql<Date>`now() - make_interval(days => ${thresholds.softBounceDays})`)
      .executeTakeFirstOrThrow();
    if (Number(recent.n) >= thresholds.softBounceLimit) {
      const note = `${recent.n} soft bounces in ${thresholds.softBounceDays} days; last: ${event.detail}`;
      const row = await this.db
        .insertInto('suppressions')
        .values({ email: event.email, reason: 'soft_bounce_limit', note: note.slice(0, 500) })
        .onConflict((oc) => oc.column('email').doNothing())
        .returning('email')
        .executeTakeFirst();
      if (row) outcome.suppressed = 'soft_bounce_limit';
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
   * One event in one round trip, through digestmail_apply_mail_event (src/db/functions/50_apply_mail_event.sql, whose comment lists the
   * steps): remember the SNS message when given, record the event, move the delivery forward,
   * suppress for a hard bounce or a complaint, unsubscribe a complainer everywhere. A known SNS message
   * or a known event changes nothing.
   */
  private async applyEventStatement(event: MailEvent, sns: SnsRef | undefined): Promise<EventRow> {
    const next = event.final === false ? null : NEXT_STATUS[event.type];
    const suppressAs =
      event.type === 'complaint'
        ? 'complaint'
        : event.type === 'hard_bounce' && event.suppress !== false
          ? 'hard_bounce'
          : null;
    const result = await sql<EventRow>`
      select r_fresh as fresh, r_recorded as recorded, r_delivery_id as delivery_id,
             r_issue_id as issue_id, r_suppressed as suppressed
      from digestmail_apply_mail_event(
        ${sns?.messageId ?? null}::text, ${sns?.type ?? null}::text, ${sns?.topicArn ?? null}::text,
        ${event.type}::text, ${event.source}::text, ${event.externalId}::text, ${event.email}::text,
        ${event.deliveryId ?? null}::bigint, ${event.providerMessageId ?? null}::text, ${event.messageId ?? null}::text,
        ${event.detail.slice(0, 1000)}::text, ${JSON.stringify(event.payload ?? {})}::jsonb,
        ${event.occurredAt}::timestamptz, ${next}::text, ${next ? [...MAY_BECOME[next]] : []}::text[],
        ${suppressAs}::text, ${event.classified?.reason ?? null}::text, ${event.classified?.status ?? null}::text,
        ${event.classified?.diagnostic ?? null}::text
      )`.execute(this.db);
    return result.rows[0]!;
  }
}
