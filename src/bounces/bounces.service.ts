import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { BOUNCE_REASONS, isBounceReason } from '../core/bounce-reason.ts';
import { CallBatcher } from '../core/call.batcher.ts';
import { invalid } from '../core/errors.ts';
import { type BounceEventRow, BouncesRepository, type Notification } from './bounces.repository.ts';
import type { BounceThresholds, EventOutcome, MailEvent } from './bounces.types.ts';
import { classifyMail } from './bounce.classifier.ts';
import { fetchHttps } from './https.fetcher.ts';
import { parseSesNotification } from './ses-events.parser.ts';
import { REPLAY_WINDOW_MS, rejected, type SnsVerifier } from './sns.verifier.ts';

export type SnsOutcome =
  | { result: 'duplicate'; messageId: string }
  | { result: 'subscribed'; messageId: string; topicArn: string }
  | { result: 'unsubscribed'; messageId: string; topicArn: string }
  | { result: 'processed'; messageId: string; kind: string; events: EventOutcome[] };

export type MailOutcome =
  | { result: 'not_a_bounce'; reason: string }
  | { result: 'unmatched'; reason: string }
  | { result: 'processed'; events: EventOutcome[] };

/**
 * Given the VERP envelope address a DSN was sent to, our delivery id, or undefined when the address
 * is not a VERP address or its token does not verify.
 */
export type VerpResolver = (address: string) => number | undefined;

/** The most notifications applied by one database call. */
const NOTIFICATION_BATCH = 200;
/**
 * Batches of notifications on their way to the database at once (connections of the pool they take).
 * Two: a batch's commit is synchronous and waits for the disk, and the next batch can run meanwhile.
 */
const NOTIFICATION_BATCHES_IN_FLIGHT = 2;

/**
 * Turns what providers tell us (SNS notifications from SES, DSN mails) into recorded events and
 * suppressions. Every notification is applied atomically, so a crash halfway leaves nothing
 * half-done and the provider's retry applies it whole.
 */
export class BouncesService {
  private readonly repo: BouncesRepository;
  /**
   * Notifications go to the database in batches (group commit, see call.batcher.ts): one arriving
   * while a batch is on its way waits for the next one. SES posts bursts of events as a send goes
   * out; one transaction and one synchronous commit per batch instead of per notification is what
   * lets the webhook keep up. Each caller is answered once its own batch has committed.
   */
  private readonly batcher: CallBatcher<Notification, EventOutcome[] | 'duplicate'>;

  constructor(
    db: Kysely<Database>,
    private readonly thresholds: BounceThresholds,
    private readonly resolveVerp?: VerpResolver,
  ) {
    this.repo = new BouncesRepository(db);
    this.batcher = new CallBatcher(
      (notifications) => this.repo.applyNotifications(notifications, this.thresholds),
      { maxBatch: NOTIFICATION_BATCH, concurrency: NOTIFICATION_BATCHES_IN_FLIGHT },
    );
  }

  /** Applies one notification, atomically, in a batch with those that arrive meanwhile. */
  private apply(notification: Notification): Promise<EventOutcome[] | 'duplicate'> {
    return this.batcher.call(notification);
  }

  /**
   * Verifies and applies one POSTed SNS message. Throws an AppError (4xx) for anything that fails a
   * check; a message seen before (same SNS MessageId) changes nothing and reports `duplicate`.
   */
  async handleSns(body: unknown, verifier: SnsVerifier): Promise<SnsOutcome> {
    const message = await verifier.verify(body);
    const remember = { messageId: message.MessageId, type: message.Type, topicArn: message.TopicArn };

    if (message.Type === 'SubscriptionConfirmation') {
      const url = verifier.subscribeUrl(message);
      return this.repo.transaction(async (repo) => {
        if (!(await repo.rememberSnsMessage(remember)))
          return { result: 'duplicate', messageId: message.MessageId };
        // Inside the transaction: if the confirmation GET fails, nothing is remembered and SNS's
        // next attempt confirms.
        const answer = await fetchHttps(url.href, verifier.fetchOptions);
        if (answer.status !== 200) {
          throw rejected(
            'confirm_failed',
            `SNS answered HTTP ${answer.status} to the subscription confirmation`,
            502,
          );
        }
        return { result: 'subscribed', messageId: message.MessageId, topicArn: message.TopicArn };
      });
    }
    if (message.Type === 'UnsubscribeConfirmation') {
      // We never ask to unsubscribe; knowing it happened is enough (it is logged by the route).
      const fresh = await this.repo.rememberSnsMessage(remember);
      return fresh
        ? { result: 'unsubscribed', messageId: message.MessageId, topicArn: message.TopicArn }
        : { result: 'duplicate', messageId: message.MessageId };
    }

    const parsed = parseSesNotification(message.Message, message.MessageId);
    const events = await this.apply({ sns: remember, events: parsed.events });
    if (events === 'duplicate') return { result: 'duplicate', messageId: message.MessageId };
    return { result: 'processed', messageId: message.MessageId, kind: parsed.kind, events };
  }

  /**
   * The newest bounces and complaints, newest first (`bounces ls`, the console). A reason outside
   * the taxonomy is a user mistake, told with the list of reasons.
   */
  async recentBounces(filter: {
    issueId?: number;
    reason?: string;
    limit?: number;
  }): Promise<BounceEventRow[]> {
    if (filter.reason !== undefined && !isBounceReason(filter.reason)) {
      throw invalid(
        'bounces.unknown_reason',
        `unknown reason "${filter.reason}"; one of: ${BOUNCE_REASONS.join(', ')}`,
      );
    }
    return this.repo.recentBounces({ ...filter, limit: filter.limit ?? 50 });
  }

  /** Drops remembered SNS message ids that no replay could use any more (their timestamp is too old). */
  forgetOldSnsMessages(): Promise<number> {
    return this.repo.forgetSnsMessagesOlderThan(REPLAY_WINDOW_MS);
  }

  /**
   * Applies one mail that arrived at the bounce address (whatever delivered it: the MTA pipe, a
   * maildir, the IMAP watcher). The classifier reads it (RFC 3464 DSN, plain-text bounce, RFC 5965
   * complaint report, auto-reply); only what we can tie to one of our deliveries (through its signed
   * VERP address or the original Message-ID it returns) counts, and it only ever acts on that
   * delivery's address: anyone can send mail to the bounce address, and an unsigned claim that "x
   * bounced" must not suppress x.
   */
  async ingestMail(raw: Buffer): Promise<MailOutcome> {
    const mail = await classifyMail(raw);
    if (mail.kind === 'not_a_bounce') return { result: 'not_a_bounce', reason: mail.reason };
    if (mail.kind === 'autoreply') return { result: 'not_a_bounce', reason: `${mail.reason}, not a bounce` };
    const deliveryId = this.verpDeliveryId(mail.envelopeCandidates);
    const delivery = await this.repo.findDelivery({
      ...(deliveryId !== undefined ? { deliveryId } : {}),
      ...(mail.originalMessageId ? { messageId: mail.originalMessageId } : {}),
    });
    if (!delivery) {
      return {
        result: 'unmatched',
        reason: `no delivery of ours matches this ${mail.kind === 'complaint' ? 'complaint' : 'report'} (VERP address ${deliveryId === undefined ? 'absent or invalid' : `for delivery ${deliveryId} unknown`}, Message-ID ${mail.originalMessageId ?? 'absent'})`,
      };
    }
    const email = delivery.email;
    if (email === null) {
      // The reader was erased: the delivery keeps its Message-ID, but there is nobody left to act on,
      // and the address the report names is not proven to be anyone's.
      return {
        result: 'unmatched',
        reason: `delivery ${delivery.id} has no address any more (its reader was erased)`,
      };
    }

    if (mail.kind === 'complaint') {
      // Feedback loops often redact the recipient; when they do name one, it must be ours.
      if (mail.recipients.length > 1 && !mail.recipients.includes(email)) {
        return {
          result: 'unmatched',
          reason: `the complaint does not name ${email}, the recipient of delivery ${delivery.id}`,
        };
      }
      const event: MailEvent = {
        type: 'complaint',
        source: 'dsn',
        externalId: `arf:${mail.reportId}:${email}`,
        email,
        deliveryId: delivery.id,
        detail: `complaint (${mail.feedbackType}) by feedback report`,
        classified: { reason: 'feedback', status: '', diagnostic: `Feedback-Type: ${mail.feedbackType}` },
        occurredAt: new Date(),
        payload: { reportId: mail.reportId, feedbackType: mail.feedbackType },
      };
      const outcomes = await this.apply({ events: [event] });
      return { result: 'processed', events: outcomes === 'duplicate' ? [] : outcomes };
    }

    // One delivery is one recipient. With one failed recipient in the report it is that delivery's
    // address (whatever the remote server calls it: an alias, a forward); with several, only the one
    // that is the delivery's address is ours.
    const ours =
      mail.recipients.length === 1 ? mail.recipients : mail.recipients.filter((r) => r.email === email);
    if (ours.length === 0) {
      return {
        result: 'unmatched',
        reason: `the report does not name ${email}, the recipient of delivery ${delivery.id}`,
      };
    }
    const events: MailEvent[] = ours.map((r) => ({
      type: r.suppresses ? 'hard_bounce' : 'soft_bounce',
      source: 'dsn',
      // Servers repeat "still trying" warnings every few hours; they count once per delivery.
      externalId:
        r.action === 'delayed'
          ? `dsn:delayed:${delivery.id}:${email}`
          : `dsn:${mail.reportId}:${email}:${r.action}`,
      final: r.action !== 'delayed',
      email,
      deliveryId: delivery.id,
      detail: [
        `${r.reason}: ${r.action} ${r.status}`.trim(),
        r.diagnostic,
        `(reported by ${mail.reportingMta})`,
      ]
        .filter(Boolean)
        .join(' ')
        .slice(0, 1000),
      classified: { reason: r.reason, status: r.status, diagnostic: r.diagnostic },
      suppress: r.suppresses,
      occurredAt: new Date(),
      payload: {
        reportId: mail.reportId,
        reportingMta: mail.reportingMta,
        format: mail.format,
        recipient: r,
      },
    }));
    const outcomes = await this.apply({ events });
    return { result: 'processed', events: outcomes === 'duplicate' ? [] : outcomes };
  }

  private verpDeliveryId(envelopeCandidates: string[]): number | undefined {
    if (!this.resolveVerp) return undefined;
    for (const address of envelopeCandidates) {
      const id = this.resolveVerp(address);
      if (id !== undefined) return id;
    }
    return undefined;
  }
}
