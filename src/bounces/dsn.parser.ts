import { createHash } from 'node:crypto';
import { type AddressObject, simpleParser } from 'mailparser';
import { invalid } from '../core/errors.ts';
import { canonical } from './ses-events.parser.ts';

/**
 * Reads an asynchronous bounce (RFC 3464 delivery status notification: `multipart/report;
 * report-type=delivery-status`) as Postfix, Exim, Exchange and Gmail send them. Anything else, such
 * as an out-of-office reply or a challenge-response mail that reached the bounce address, is "not a
 * bounce" and must change nothing. Note that real DSNs carry `Auto-Submitted: auto-replied` too, so
 * the report structure, not that header, is what decides.
 */

export type DsnSeverity = 'hard' | 'soft' | 'none';

export interface DsnRecipient {
  /** Final-Recipient (or Original-Recipient), canonical. */
  email: string;
  action: string;
  status: string;
  diagnostic: string;
  severity: DsnSeverity;
}

export interface DsnReport {
  kind: 'report';
  /** The DSN's own Message-ID (or a hash of its bytes when it has none): keys replays. */
  reportId: string;
  reportingMta: string;
  recipients: DsnRecipient[];
  /** Addresses the DSN was sent to, where a VERP envelope sender shows up. */
  envelopeCandidates: string[];
  /** From the returned headers (or References / X-Original-Message-ID when they are missing). */
  originalMessageId: string | undefined;
}

export interface NotABounce {
  kind: 'not_a_bounce';
  reason: string;
}

const MAX_DSN_BYTES = 10 * 1024 * 1024;

export async function parseDsn(raw: Buffer): Promise<DsnReport | NotABounce> {
  if (raw.length === 0) throw invalid('bounces.empty_message', 'the message is empty');
  if (raw.length > MAX_DSN_BYTES)
    throw invalid('bounces.message_too_large', 'the message is larger than 10 MB');
  const mail = await simpleParser(raw, {
    keepDeliveryStatus: true,
    ignoreEmbedded: true,
    skipHtmlToText: true,
    skipTextToHtml: true,
    skipImageLinks: true,
  });
  if (mail.headers.size === 0 || !mail.headers.has('from')) {
    throw invalid('bounces.not_a_message', 'the input is not an email message (no headers)');
  }
  const type = mail.headers.get('content-type') as
    | { value?: string; params?: Record<string, string> }
    | undefined;
  const statusPart = mail.attachments.find((a) =>
    /^message\/(global-)?delivery-status$/i.test(a.contentType),
  );
  const isReport =
    type?.value?.toLowerCase() === 'multipart/report' &&
    type.params?.['report-type']?.toLowerCase() === 'delivery-status';
  if (!isReport || !statusPart)
    return { kind: 'not_a_bounce', reason: describeNonBounce(mail.headers, mail.subject) };

  const [perMessage, ...perRecipient] = fieldGroups(statusPart.content.toString('utf8'));
  const recipients: DsnRecipient[] = [];
  for (const fields of perRecipient) {
    const email = canonical(addressField(fields.get('final-recipient') ?? fields.get('original-recipient')));
    if (!email) continue;
    const action = (fields.get('action') ?? '').toLowerCase().trim();
    const status = (fields.get('status') ?? '').match(/\d\.\d{1,3}\.\d{1,3}/)?.[0] ?? '';
    recipients.push({
      email,
      action,
      status,
      diagnostic: (fields.get('diagnostic-code') ?? '').replace(/\s+/g, ' ').trim().slice(0, 500),
      severity: severityOf(action, status),
    });
  }
  if (recipients.length === 0) {
    return { kind: 'not_a_bounce', reason: 'a delivery report that names no recipient' };
  }

  const returned = mail.attachments.find((a) =>
    /^(text\/rfc822-headers|message\/(global-)?rfc822)$/i.test(a.contentType),
  );
  let originalMessageId: string | undefined;
  if (returned) {
    const original = await simpleParser(headerBlock(returned.content), {
      skipHtmlToText: true,
      skipTextToHtml: true,
    });
    originalMessageId = original.messageId;
  }
  originalMessageId ??=
    messageIdIn(perMessage?.get('x-original-message-id')) ?? lastReference(mail.headers.get('references'));

  const envelopeCandidates = [
    ...addresses(mail.to),
    ...addressesIn(mail.headers.get('delivered-to')),
    ...addressesIn(mail.headers.get('x-original-to')),
    ...addressesIn(mail.headers.get('envelope-to')),
    addressField(perMessage?.get('x-postfix-sender')),
  ].filter((a): a is string => Boolean(a));

  return {
    kind: 'report',
    reportId: mail.messageId ?? `sha256:${createHash('sha256').update(raw).digest('hex')}`,
    reportingMta: addressField(perMessage?.get('reporting-mta')) ?? 'unknown',
    recipients,
    envelopeCandidates: [...new Set(envelopeCandidates)],
    originalMessageId,
  };
}

/**
 * RFC 3464: `failed` with a 5.x.x status is permanent. A `failed` with 4.x.x (the server gave up on a
 * temporary condition) and every `delayed` report are soft. `delivered`, `relayed` and `expanded` are
 * success reports, not bounces.
 */
function severityOf(action: string, status: string): DsnSeverity {
  if (action === 'failed') return status.startsWith('4.') ? 'soft' : 'hard';
  if (action === 'delayed') return 'soft';
  if (action === '' && status.startsWith('5.')) return 'hard';
  if (action === '' && status.startsWith('4.')) return 'soft';
  return 'none';
}

/** Groups of `Name: value` fields separated by blank lines, with folded lines joined. */
function fieldGroups(text: string): Map<string, string>[] {
  const groups: Map<string, string>[] = [];
  let current = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    if (line.trim() === '') {
      if (current.size > 0) groups.push(current);
      current = new Map();
      last = undefined;
      continue;
    }
    if (/^[ \t]/.test(line) && last) {
      current.set(last, `${current.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    current.set(last, line.slice(colon + 1).trim());
  }
  if (current.size > 0) groups.push(current);
  return groups;
}

/** `rfc822; user@example.org` → `user@example.org` (also `dns; host`). */
function addressField(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const semi = value.indexOf(';');
  const bare = (semi >= 0 ? value.slice(semi + 1) : value).trim().replace(/^<|>$/g, '');
  return bare === '' ? undefined : bare;
}

/** The header block of a returned message (everything before the first blank line). */
function headerBlock(content: Buffer): Buffer {
  const text = content.toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  return Buffer.from(`${end >= 0 ? text.slice(0, end) : text}\n\n`, 'utf8');
}

function messageIdIn(value: string | undefined): string | undefined {
  return value?.match(/<[^<>\s]+>/)?.[0];
}

function lastReference(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const ids = value.match(/<[^<>\s]+>/g);
  return ids?.[ids.length - 1];
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  return list.flatMap((o) => o.value.map((a) => a.address ?? '')).filter(Boolean);
}

function addressesIn(value: unknown): string[] {
  if (!value) return [];
  if (typeof value === 'string') return [value.trim().replace(/^<|>$/g, '')];
  if (typeof value === 'object' && 'value' in (value as object)) return addresses(value as AddressObject);
  return [];
}

function describeNonBounce(headers: Map<string, unknown>, subject: string | undefined): string {
  const auto = String(headers.get('auto-submitted') ?? '').toLowerCase();
  const precedence = String(headers.get('precedence') ?? '').toLowerCase();
  const quotedSubject = subject ? ` ("${subject.replace(/[\r\n]/g, ' ').slice(0, 80)}")` : '';
  if (
    auto.startsWith('auto-replied') ||
    precedence === 'auto_reply' ||
    headers.has('x-autoreply') ||
    headers.has('x-autorespond') ||
    /^(auto(matic)? ?reply|out of (the )?office|abwesend|réponse automatique)/i.test(subject ?? '')
  ) {
    return `an automatic reply${quotedSubject}, not a delivery report`;
  }
  return `not a delivery status report (multipart/report; report-type=delivery-status)${quotedSubject}`;
}
