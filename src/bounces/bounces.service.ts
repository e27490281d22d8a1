import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { BouncesRepository } from './bounces.repository.ts';
import type { BounceThresholds, EventOutcome, MailEvent } from './bounces.types.ts';
import { type DsnReport, parseDsn } from './dsn.parser.ts';
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

/**
 * Turns what providers tell us (SNS notifications from SES, DSN mails) into recorded events and
 * suppressions. Every notification is applied atomically, so a crash halfway leaves nothing
 * half-done and the provider's retry applies it whole.
 */
export class BouncesService {
  private readonly repo: BouncesRepository;

  constructor(
    db: Kysely<Database>,
    private readonly thresholds: BounceThresholds,
    private readonly resolveVerp?: VerpResolver,
  ) {
    this.repo = new BouncesRepository(db);
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
    const events = await this.repo.applyNotification(remember, parsed.events, this.thresholds);
    if (events === 'duplicate') return { result: 'duplicate', messageId: message.MessageId };
    return { result: 'processed', messageId: message.MessageId, kind: parsed.kind, events };
  }

  /** Drops remembered SNS message ids that no replay could use any more (their timestamp is too old). */
  forgetOldSnsMessages(): Promise<number> {
    return this.repo.forgetSnsMessagesOlderThan(REPLAY_WINDOW_MS);
  }

  /**
   * Applies one mail that arrived at the bounce address (whatever delivered it: the MTA pipe, a
   * maildir, the IMAP watcher). Only a DSN that we can tie to one of our deliveries (through its signed
   * VERP address or the original Message-ID it returns) counts: anyone can send mail to the bounce
   * address, and an unsigned claim that "x bounced" must not suppress x.
   */
  async ingestMail(raw: Buffer): Promise<MailOutcome> {
    const report = await parseDsn(raw);
    if (report.kind === 'not_a_bounce') return { result: 'not_a_bounce', reason: report.reason };
    const bounces = report.recipients.filter((r) => r.severity !== 'none');
    if (bounces.length === 0) {
      return { result: 'not_a_bounce', reason: 'a delivery report with no failed or delayed recipient' };
    }
    const deliveryId = this.verpDeliveryId(report);
    const delivery = await this.repo.findDelivery({
      ...(deliveryId !== undefined ? { deliveryId } : {}),
      ...(report.originalMessageId ? { messageId: report.originalMessageId } : {}),
    });
    if (!delivery) {
      return {
        result: 'unmatched',
        reason: `no delivery of ours matches this report (VERP address ${deliveryId === undefined ? 'absent or invalid' : `for delivery ${deliveryId} unknown`}, Message-ID ${report.originalMessageId ?? 'absent'})`,
      };
    }
    // One delivery is one recipient. With one failed recipient in the report it is that delivery's
    // address (whatever the remote server calls it); with several, only the matching one is ours.
    const ours =
      bounces.length === 1 || delivery.email === null
        ? bounces
        : bounces.filter((r) => r.email === delivery.email);
    if (ours.length === 0) {
      return {
        result: 'unmatched',
        reason: `the report does not name ${delivery.email}, the recipient of delivery ${delivery.id}`,
      };
    }
    const events: MailEvent[] = ours.map((r) => ({
      type: r.severity === 'hard' ? 'hard_bounce' : 'soft_bounce',
      source: 'dsn',
      // Servers repeat "still trying" warnings every few hours; they count once per delivery.
      externalId:
        r.action === 'delayed'
          ? `dsn:delayed:${delivery.id}:${r.email}`
          : `dsn:${report.reportId}:${r.email}:${r.action}`,
      final: r.action !== 'delayed',
      email: delivery.email ?? r.email,
      deliveryId: delivery.id,
      detail: [`${r.action} ${r.status}`.trim(), r.diagnostic, `(reported by ${report.reportingMta})`]
        .filter(Boolean)
        .join(' '),
      occurredAt: new Date(),
      payload: { reportId: report.reportId, reportingMta: report.reportingMta, recipient: r },
    }));
    const outcomes = await this.repo.applyNotification(undefined, events, this.thresholds);
    return { result: 'processed', events: outcomes === 'duplicate' ? [] : outcomes };
  }

  private verpDeliveryId(report: DsnReport): number | undefined {
    if (!this.resolveVerp) return undefined;
    for (const address of report.envelopeCandidates) {
      const id = this.resolveVerp(address);
      if (id !== undefined) return id;
    }
    return undefined;
  }
}
