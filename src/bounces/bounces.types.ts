import type { BounceReason } from '../core/bounce-reason.ts';
import type { EventSource, EventType } from '../db/db.types.ts';

/**
 * One thing that happened to one message for one recipient, whatever told us (an SNS notification
 * from SES, a DSN mail, the CLI). The repository turns it into an `events` row, a delivery status and,
 * when the rules say so, a suppression.
 */
export interface MailEvent {
  type: EventType;
  source: EventSource;
  /**
   * Stable id of this event for this recipient: the same bounce told twice (an SNS re-delivery, the
   * same DSN ingested again, SES publishing to two topics) has the same id and is recorded once.
   * It names the recipient (it ends in `email`): events about two addresses never share one, which
   * lets a batch apply events about different addresses in any order.
   */
  externalId: string;
  /** The recipient, canonical (lower case, punycode domain). */
  email: string;
  /** How to find the delivery, best first: our own id (VERP, SES tag), the SES MessageId, our Message-ID. */
  deliveryId?: number;
  providerMessageId?: string;
  messageId?: string;
  /** Human-readable reason: the bounce type and subtype, the SMTP status and diagnostic. */
  detail: string;
  /** What the classifier found (bounces and complaints): the reason, status and remote words. */
  classified?: { reason: BounceReason; status: string; diagnostic: string };
  /**
   * Suppress the address for this event: a hard bounce whose reason is about the address, or a
   * complaint. A soft bounce never does (only the soft-bounce limit may).
   */
  suppress?: boolean;
  /**
   * False for a warning that the provider is still trying (a DSN with Action: delayed): it counts as a
   * soft bounce but leaves the delivery's status alone, since the message may still arrive.
   */
  final?: boolean;
  occurredAt: Date;
  payload: unknown;
}

export interface EventOutcome {
  event: MailEvent;
  /** False when the event had been recorded before (a replay): nothing was changed. */
  recorded: boolean;
  deliveryId: number | null;
  issueId: number | null;
  /** Set when this event put the address on the suppression list. */
  suppressed: 'hard_bounce' | 'soft_bounce_limit' | 'complaint' | null;
}

export interface BounceThresholds {
  /** Soft bounces within the window that suppress an address (SOFT_BOUNCE_LIMIT). */
  softBounceLimit: number;
  /** The window in days (SOFT_BOUNCE_DAYS). */
  softBounceDays: number;
}
