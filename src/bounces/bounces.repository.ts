import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, DeliveryStatus } from '../db/db.types.ts';
import type { BounceThresholds, EventOutcome, MailEvent } from './bounces.types.ts';

export interface SnsRef {
  messageId: string;
  type: string;
  topicArn: string;
}

/** One row of digestmail_apply_mail_events: one event of one notification, or a duplicate notification. */
interface EventRow {
  /** The notification, from 1, in the order given. */
  o_index: number;
  /** The event within the notification, from 1. */
  o_event: number;
  /** The notification's SNS message was known already: nothing of it was applied. */
  o_duplicate: boolean;
  /** The event was new (false for a replay: nothing changed). */
  o_recorded: boolean;
  o_delivery_id: number | null;
  o_issue_id: number | null;
  o_suppressed: 'hard_bounce' | 'soft_bounce_limit' | 'complaint' | null;
}

/** What a provider told us in one message: its SNS message (when it came through SNS) and its events. */
export interface Notification {
  sns?: SnsRef;
  events: MailEvent[];
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
   * SNS message was handled before. A batch of one (see applyNotifications).
   */
  async applyNotification(
    sns: SnsRef | undefined,
    events: MailEvent[],
    thresholds: BounceThresholds,
  ): Promise<EventOutcome[] | 'duplicate'> {
    return (await this.applyNotifications([{ ...(sns ? { sns } : {}), events }], thresholds))[0]!;
  }

  /** Applies one event; inside a transaction when it is one of several. */
  async applyEvent(event: MailEvent, thresholds: BounceThresholds): Promise<EventOutcome> {
    const outcomes = await this.applyNotification(undefined, [event], thresholds);
    return (outcomes as EventOutcome[])[0]!;
  }

  /**
   * Notifications in one call and one transaction of `digestmail_apply_mail_events`
   * (src/db/functions/51_apply_mail_events.sql, whose comment lists the rules), with the outcome of
   * applying them one after the other, in order: remember the SNS message when given (a known one
   * makes the notification 'duplicate' and changes nothing), then for each event: record it, move
   * the delivery forward, suppress for a hard bounce, a complaint or the soft-bounce limit,
   * unsubscribe a complainer everywhere. A known event changes nothing. That outcome is reached by
   * a few statements over the whole batch (the rules in 50_apply_mail_event.sql, applied in rounds
   * of distinct addresses), not one per event. Returns each notification's outcome, in order. The
   * only way events are written: a webhook gathers notifications into batches (BouncesService),
   * everything else sends a batch of one.
   */
  async applyNotifications(
    notifications: Notification[],
    thresholds: BounceThresholds,
  ): Promise<(EventOutcome[] | 'duplicate')[]> {
    const rows: Record<string, unknown>[] = [];
    for (const [i, notification] of notifications.entries()) {
      const sns = notification.sns
        ? {
            sns_id: notification.sns.messageId,
            sns_type: notification.sns.type,
            topic_arn: notification.sns.topicArn,
          }
        : {};
      if (notification.events.length === 0) rows.push({ n: i + 1, e: 0, ...sns });
      for (const [j, event] of notification.events.entries()) {
        rows.push({ n: i + 1, e: j + 1, ...(j === 0 ? sns : {}), ...eventColumns(event) });
      }
    }
    const result = await sql<EventRow>`
      select * from digestmail_apply_mail_events(${JSON.stringify(rows)}::jsonb,
        ${thresholds.softBounceLimit}::integer, ${thresholds.softBounceDays}::integer)
    `.execute(this.db);
    const outcomes: (EventOutcome[] | 'duplicate')[] = notifications.map(() => []);
    for (const row of result.rows) {
      const i = row.o_index - 1;
      if (row.o_duplicate) {
        outcomes[i] = 'duplicate';
        continue;
      }
      (outcomes[i] as EventOutcome[])[row.o_event - 1] = {
        event: notifications[i]!.events[row.o_event - 1]!,
        recorded: row.o_recorded,
        deliveryId: row.o_delivery_id,
        issueId: row.o_issue_id,
        suppressed: row.o_suppressed,
      };
    }
    return outcomes;
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
}

/**
 * An event as digestmail_apply_mail_events reads it, with what the rules above make of its type: the
 * status it moves its delivery to and from which, and what it suppresses the address as.
 */
function eventColumns(event: MailEvent): Record<string, unknown> {
  const next = event.final === false ? null : NEXT_STATUS[event.type];
  const suppressAs =
    event.type === 'complaint'
      ? 'complaint'
      : event.type === 'hard_bounce' && event.suppress !== false
        ? 'hard_bounce'
        : null;
  return {
    type: event.type,
    source: event.source,
    external_id: event.externalId,
    email: event.email,
    delivery_id: event.deliveryId ?? null,
    provider_id: event.providerMessageId ?? null,
    message_id: event.messageId ?? null,
    detail: event.detail.slice(0, 1000),
    payload: event.payload ?? {},
    occurred_at: event.occurredAt.toISOString(),
    next_status: next,
    allowed: next ? MAY_BECOME[next] : [],
    suppress_as: suppressAs,
    reason: event.classified?.reason ?? null,
    status: event.classified?.status ?? null,
    diagnostic: event.classified?.diagnostic ?? null,
  };
}
