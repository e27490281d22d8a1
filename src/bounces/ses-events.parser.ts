import { invalid } from '../core/errors.ts';
import { canonical } from '../core/email-address.ts';
import { classifySesBounce } from './bounce.classifier.ts';
import type { MailEvent } from './bounces.types.ts';

/**
 * SES publishes the same events in two shapes: identity notifications (`notificationType`) and
 * configuration-set event publishing (`eventType`, with the message's tags). Both carry `mail` (with
 * the SES MessageId we stored on the delivery) and one of `bounce`, `complaint`, `delivery`. Fields we
 * do not know are ignored, and event types we do not track (Send, Open, Click, Reject, DeliveryDelay,
 * Rendering Failure, Subscription) parse to no events at all.
 *
 * https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
 * https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
 */

interface SesMail {
  messageId?: unknown;
  timestamp?: unknown;
  tags?: unknown;
  headers?: unknown;
}

export interface ParsedSesNotification {
  /** Bounce, Complaint, Delivery or whatever else SES sent (ignored). */
  kind: string;
  events: MailEvent[];
}

export function parseSesNotification(message: string, snsMessageId: string): ParsedSesNotification {
  let body: unknown;
  try {
    body = JSON.parse(message);
  } catch {
    throw invalid('bounces.unreadable_event', 'the SNS Message is not a JSON SES event');
  }
  if (body === null || typeof body !== 'object') {
    throw invalid('bounces.unreadable_event', 'the SNS Message is not a JSON SES event');
  }
  const record = body as Record<string, unknown>;
  const kind = text(record.notificationType) ?? text(record.eventType);
  if (!kind) throw invalid('bounces.unreadable_event', 'the SES event has no notificationType or eventType');

  if (kind !== 'Bounce' && kind !== 'Complaint' && kind !== 'Delivery') return { kind, events: [] };

  const mail = (record.mail ?? {}) as SesMail;
  const providerMessageId = text(mail.messageId);
  if (!providerMessageId)
    throw invalid('bounces.unreadable_event', `the SES ${kind} event has no mail.messageId`);
  const base = {
    source: 'ses' as const,
    providerMessageId,
    ...ids(mail),
    payload: record,
  };

  if (kind === 'Bounce') {
    const bounce = object(record.bounce, 'bounce');
    const bounceType = text(bounce.bounceType) ?? 'Undetermined';
    const subType = text(bounce.bounceSubType) ?? 'Undetermined';
    const feedbackId = text(bounce.feedbackId) ?? snsMessageId;
    const occurredAt = date(bounce.timestamp) ?? date(mail.timestamp) ?? new Date();
    return {
      kind,
      events: recipients(bounce.bouncedRecipients).map((r) => {
        // The same taxonomy as bounce mail: a Permanent bounce suppresses only when it is about the
        // address (SES says Permanent for a spam block too).
        const c = classifySesBounce({ bounceType, subType, status: r.status, diagnostic: r.diagnosticCode });
        return {
          ...base,
          type: c.suppresses ? ('hard_bounce' as const) : ('soft_bounce' as const),
          email: r.email,
          externalId: `ses:bounce:${feedbackId}:${r.email}`,
          detail: [`${c.reason}: ${bounceType}/${subType}`, r.status, r.diagnosticCode]
            .filter(Boolean)
            .join(' '),
          classified: {
            reason: c.reason,
            status: c.status,
            diagnostic: r.diagnosticCode ?? `${bounceType}/${subType}`,
          },
          suppress: c.suppresses,
          occurredAt,
        };
      }),
    };
  }

  if (kind === 'Complaint') {
    const complaint = object(record.complaint, 'complaint');
    const feedbackId = text(complaint.feedbackId) ?? snsMessageId;
    const feedbackType = text(complaint.complaintFeedbackType) ?? text(complaint.complaintSubType) ?? 'abuse';
    const occurredAt = date(complaint.timestamp) ?? date(mail.timestamp) ?? new Date();
    return {
      kind,
      events: recipients(complaint.complainedRecipients).map((r) => ({
        ...base,
        type: 'complaint' as const,
        email: r.email,
        externalId: `ses:complaint:${feedbackId}:${r.email}`,
        detail: `complaint (${feedbackType})`,
        classified: { reason: 'feedback' as const, status: '', diagnostic: `complaint (${feedbackType})` },
        occurredAt,
      })),
    };
  }

  const delivery = object(record.delivery, 'delivery');
  const occurredAt = date(delivery.timestamp) ?? new Date();
  // One Delivery event per message sent: keep its row small (the full notification repeats every
  // header of the message), which matters at a million recipients an issue.
  const slim = {
    eventType: kind,
    mail: { messageId: providerMessageId, timestamp: mail.timestamp },
    delivery,
  };
  const list = Array.isArray(delivery.recipients) ? delivery.recipients : [];
  return {
    kind,
    events: list
      .map((r) => canonical(text(r)))
      .filter((email): email is string => email !== undefined)
      .map((email) => ({
        ...base,
        type: 'delivery' as const,
        email,
        externalId: `ses:delivery:${providerMessageId}:${email}`,
        payload: slim,
        detail: text(delivery.smtpResponse) ?? 'delivered',
        occurredAt,
      })),
  };
}

/** Our own ids, from the EmailTags the SES transport set (present in configuration-set events). */
function ids(mail: SesMail): { deliveryId?: number; messageId?: string } {
  const out: { deliveryId?: number; messageId?: string } = {};
  const tags = mail.tags && typeof mail.tags === 'object' ? (mail.tags as Record<string, unknown>) : {};
  const tag = Array.isArray(tags.delivery) ? text(tags.delivery[0]) : undefined;
  if (tag && /^\d{1,15}$/.test(tag)) out.deliveryId = Number(tag);
  if (Array.isArray(mail.headers)) {
    for (const h of mail.headers as { name?: unknown; value?: unknown }[]) {
      if (
        typeof h?.name === 'string' &&
        h.name.toLowerCase() === 'message-id' &&
        typeof h.value === 'string'
      ) {
        out.messageId = h.value.trim();
      }
    }
  }
  return out;
}

function recipients(value: unknown): { email: string; status?: string; diagnosticCode?: string }[] {
  if (!Array.isArray(value)) return [];
  const out: { email: string; status?: string; diagnosticCode?: string }[] = [];
  for (const r of value) {
    if (r === null || typeof r !== 'object') continue;
    const entry = r as Record<string, unknown>;
    const email = canonical(text(entry.emailAddress));
    if (!email) continue;
    const status = text(entry.status);
    const diagnosticCode = text(entry.diagnosticCode);
    out.push({
      email,
      ...(status ? { status } : {}),
      ...(diagnosticCode ? { diagnosticCode: diagnosticCode.slice(0, 500) } : {}),
    });
  }
  return out;
}

function object(value: unknown, name: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object') {
    throw invalid('bounces.unreadable_event', `the SES event has no ${name} object`);
  }
  return value as Record<string, unknown>;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function date(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
