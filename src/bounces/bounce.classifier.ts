import { createHash } from 'node:crypto';
import {
  type BounceReason,
  type ClassifiedFailure,
  classifyFailure,
  reasonSuppresses,
  replyIn,
  statusIn,
} from '../core/bounce-reason.ts';
import { invalid } from '../core/errors.ts';
import { canonical } from '../core/email-address.ts';
import { type BounceMail, parseBounceMail } from './bounce-mail.parser.ts';

/**
 * The one bounce classifier. Every source of bounce news goes through it: mail at the bounce address
 * (RFC 3464 delivery status notifications, the plain-text formats most servers still send, RFC 5965
 * complaint reports, auto-replies), SES bounce events, and — through the same core function
 * `classifyFailure` — the SMTP replies the worker gets while sending. Each source yields, per failed
 * recipient, the address, the enhanced status, the remote server's words and a reason of the fixed
 * taxonomy (core/bounce-reason.ts).
 *
 * Hand-written because no maintained JavaScript library reads non-RFC 3464 bounces; the MIME
 * reading underneath is bounce-mail.parser.ts (why that one is hand-written is said there).
 */

export interface BounceRecipient {
  /** The failed recipient as the report names it, canonical. */
  email: string;
  /** RFC 3464 action: `failed` or `delayed` (plain-text bounces: `failed`, or `delayed` for warnings). */
  action: 'failed' | 'delayed';
  status: string;
  diagnostic: string;
  reason: BounceReason;
  /** The reason is about the address: the address is to be suppressed. */
  suppresses: boolean;
}

interface Located {
  reportId: string;
  /** Addresses the mail was sent to, where a VERP envelope sender shows up. */
  envelopeCandidates: string[];
  /** The Message-ID of our message, from the returned copy or the headers that refer to it. */
  originalMessageId: string | undefined;
}

export type ClassifiedMail =
  | (Located & {
      kind: 'bounce';
      format: 'dsn' | 'text';
      reportingMta: string;
      recipients: BounceRecipient[];
    })
  | (Located & {
      kind: 'complaint';
      /** RFC 5965 Feedback-Type (abuse, opt-out, auth-failure…). */
      feedbackType: string;
      /** The complaining recipient, when the report tells (often redacted). */
      recipients: string[];
    })
  | { kind: 'autoreply'; reason: string; from: string | undefined }
  | { kind: 'not_a_bounce'; reason: string };

const MAX_BYTES = 10 * 1024 * 1024;

export async function classifyMail(raw: Buffer, forwarded = false): Promise<ClassifiedMail> {
  if (raw.length === 0) throw invalid('bounces.empty_message', 'the message is empty');
  if (raw.length > MAX_BYTES) throw invalid('bounces.message_too_large', 'the message is larger than 10 MB');
  const mail = parseBounceMail(raw);
  if (mail.headerCount === 0 || !(mail.has('from') || mail.has('subject'))) {
    throw invalid('bounces.not_a_message', 'the input is not an email message (no headers)');
  }
  const reportId =
    messageIdIn(mail.header('message-id')) ?? `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  const own = ownAddresses(mail);
  const envelopeCandidates = [
    ...addressesIn(mail.header('to')),
    ...addressesIn(mail.header('cc')),
    ...addressesIn(mail.header('delivered-to')),
    ...addressesIn(mail.header('x-original-to')),
    ...addressesIn(mail.header('envelope-to')),
    ...addressesIn(mail.header('return-path')),
  ];

  const reportType =
    mail.contentType === 'multipart/report'
      ? mail.contentTypeParams['report-type']?.toLowerCase()
      : undefined;
  const feedbackPart = mail.parts.find((a) => /^message\/feedback-report$/i.test(a.contentType));
  if (reportType === 'feedback-report' || feedbackPart) {
    return complaint(mail, feedbackPart?.content.toString('utf8') ?? '', reportId, envelopeCandidates);
  }

  const text = bodyText(mail);
  // What a server says about a failure fits in a few KB; a stranger's megabytes of text are not
  // scanned for addresses.
  const { failure: fullFailure, original } = splitAtReturnedCopy(text);
  const failure = fullFailure.slice(0, 64 * 1024);
  const returned = returnedHeaders(mail, original);
  const originalMessageId =
    messageIdIn(returned.match(/^message-id:[ \t]*(.*(?:\n[ \t].*)*)/im)?.[1]) ??
    messageIdIn(mail.header('x-original-message-id')) ??
    lastReference(mail.header('in-reply-to')) ??
    lastReference(mail.header('references'));
  envelopeCandidates.push(
    ...(returned.match(/^return-path:.*$/gim) ?? []).flatMap((l) => addressesInText(l)),
  );
  const located = { reportId, envelopeCandidates: [...new Set(envelopeCandidates)], originalMessageId };

  const statusPart = mail.parts.find((a) => /^message\/(global-)?delivery-status$/i.test(a.contentType));
  const dsnText = statusPart?.content.toString('utf8') ?? inlineDeliveryStatus(failure);
  if (dsnText) {
    const dsn = readDeliveryStatus(dsnText, failure);
    if (dsn.recipients.length > 0) {
      return {
        kind: 'bounce',
        format: 'dsn',
        reportingMta: dsn.reportingMta,
        recipients: dsn.recipients,
        ...located,
      };
    }
    if (dsn.onlySuccess)
      return {
        kind: 'not_a_bounce',
        reason: 'a delivery report of success (delivered, relayed or expanded)',
      };
  }

  const autoReply = autoReplyReason(mail);
  const looksLikeBounce =
    BOUNCE_SUBJECT.test(mail.header('subject') ?? '') ||
    BOUNCE_SENDER.test(fromOf(mail) ?? '') ||
    mail.has('x-failed-recipients');
  if (!looksLikeBounce && autoReply) return { kind: 'autoreply', reason: autoReply, from: fromOf(mail) };

  for (const line of returned.match(/^(?:from|return-path|sender):.*$/gim) ?? []) {
    for (const a of addressesInText(line)) {
      const c = canonical(a);
      if (c) own.add(c);
    }
  }
  const recipients = plainTextRecipients(mail, failure, own);
  // Google Groups answers a post it will not take (the sender is not a member, posting is closed)
  // with a bounce in the poster's language that names the group: the group refused our message, the
  // address is fine.
  if (
    recipients.length > 0 &&
    (mail.has('x-google-group-id') || /groups\.google\.com\/support/i.test(text.slice(0, 65536)))
  ) {
    return {
      kind: 'bounce',
      format: 'text',
      reportingMta: reportingHost(mail),
      recipients: recipients.map((r) => ({
        ...finish(r),
        status: statusIn(r.diagnostic) || '5.0.0',
        reason: 'rejected' as const,
        suppresses: false,
      })),
      ...located,
    };
  }
  if (
    recipients.length > 0 &&
    (looksLikeBounce || recipients.some((r) => r.status || FAILURE_WORDS.test(failure)))
  ) {
    return {
      kind: 'bounce',
      format: 'text',
      reportingMta: reportingHost(mail),
      recipients: recipients.map((r) => finish(r, failure.slice(0, 8192))),
      ...located,
    };
  }
  if (autoReply) return { kind: 'autoreply', reason: autoReply, from: fromOf(mail) };
  // A bounce forwarded whole, as an attachment (a notification relay, a mailbox rule): the attached
  // message is the bounce. Read once, not down a chain of forwards.
  const attached = forwarded
    ? undefined
    : mail.parts.find((p) => /^message\/(?:global-)?rfc822$/.test(p.contentType));
  if (
    attached &&
    /^from:.*(?:mailer-daemon|postmaster)|^content-type:\s*multipart\/report/im.test(
      headerBlockOf(attached.content.toString('latin1')),
    )
  ) {
    const inner = await classifyMail(attached.content, true);
    // Our VERP address may be on either envelope: the forward's or the bounce's.
    if (inner.kind === 'bounce')
      return {
        ...inner,
        reportId,
        envelopeCandidates: [...new Set([...located.envelopeCandidates, ...inner.envelopeCandidates])],
        originalMessageId: inner.originalMessageId ?? located.originalMessageId,
      };
  }
  const subjectLine = mail.header('subject');
  const subject = subjectLine ? ` ("${subjectLine.replace(/[\r\n]/g, ' ').slice(0, 80)}")` : '';
  return { kind: 'not_a_bounce', reason: `no failed recipient found in it${subject}` };
}

/** SES bounce events, read with the same taxonomy: the bounce type and subtype first, then the words. */
export function classifySesBounce(input: {
  bounceType: string;
  subType: string;
  status?: string | undefined;
  diagnostic?: string | undefined;
}): ClassifiedFailure {
  const words = classifyFailure({ status: input.status, text: input.diagnostic ?? '' });
  const known = (reason: BounceReason): ClassifiedFailure => ({
    reason,
    status: words.status,
    suppresses: reasonSuppresses(reason),
  });
  // https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html#bounce-types
  if (input.bounceType === 'Permanent') {
    switch (input.subType) {
      case 'NoEmail':
        // "SES received a permanent bounce: the address does not exist", unless the words say it was
        // the sender or the content that was refused.
        return words.reason === 'undefined' || words.suppresses
          ? known(words.suppresses ? words.reason : 'userunknown')
          : words;
      case 'Suppressed':
      case 'OnAccountSuppressionList':
        return known('userunknown');
      case 'UnsubscribedRecipient':
        return known('notaccept');
      default:
        return words;
    }
  }
  if (input.bounceType === 'Transient') {
    const transient: Record<string, BounceReason> = {
      MailboxFull: 'mailboxfull',
      MessageTooLarge: 'mesgtoobig',
      ContentRejected: 'contenterror',
      AttachmentRejected: 'virusdetected',
    };
    const reason = transient[input.subType];
    if (reason) return known(reason);
    // A transient bounce is never about the address itself, whatever its words say.
    return words.suppresses ? known('undefined') : words;
  }
  return words.suppresses ? known('undefined') : words;
}

/**
 * The SMTP command the remote server answered, where the bounce says: Postfix "(in reply to end of
 * DATA command)", Exim "after end of data", Sendmail's transcript ">>> DATA".
 */
function commandIn(raw: string): string | undefined {
  const text = raw.replace(/\s+/g, ' ');
  if (/-+ ?smtp command:? ?(?:-+ )?data\b/i.test(text)) return 'DATA';
  if (
    /in reply to (?:end of )?data command|after end of data|after data\b|>>> data\b|\bdata command\b|after the data command/i.test(
      text,
    )
  )
    return 'DATA';
  if (/in reply to rcpt to command|after rcpt to|>>> rcpt to/i.test(text)) return 'RCPT TO';
  if (/in reply to mail from command|after mail from|>>> mail from/i.test(text)) return 'MAIL FROM';
  return undefined;
}

function finish(
  r: Omit<BounceRecipient, 'reason' | 'suppresses'>,
  context = '',
  remoteMta = '',
  statusWords = '',
): BounceRecipient {
  const c = classifyFailure({
    status: r.status,
    // The words some servers put beside the Status code ("5.2.1 (mailbox disabled, not accepting
    // messages)") are theirs too.
    text: stripBoilerplate(statusWords ? `${r.diagnostic} (${statusWords})` : r.diagnostic),
    command: commandIn(`${r.diagnostic}\n${context}`),
    remoteMta: `${remoteMta} ${r.email.split('@')[1] ?? ''}`,
    delayed: r.action === 'delayed',
  });
  return { ...r, status: c.status, reason: c.reason, suppresses: c.suppresses };
}

// ---------------------------------------------------------------------------------------------
// RFC 3464 delivery status
// ---------------------------------------------------------------------------------------------

function readDeliveryStatus(
  statusText: string,
  humanText: string,
  noPerMessageGroup = false,
): { reportingMta: string; recipients: BounceRecipient[]; onlySuccess: boolean } {
  const groups = fieldGroups(statusText);
  const perMessage = noPerMessageGroup ? undefined : groups[0];
  const perRecipient = noPerMessageGroup ? groups : groups.slice(1);
  const recipients: BounceRecipient[] = [];
  let success = 0;
  for (const fields of perRecipient) {
    const named = addressField(fields.get('final-recipient') ?? fields.get('original-recipient'));
    // Exim names a pipe or file delivery ("|/usr/bin/prog user@host /home/…"): the address is in it.
    const email = canonical(named && /[\s|]/.test(named) ? (addressesInText(named)[0] ?? '') : named);
    if (!email) continue;
    const action = (fields.get('action') ?? '').toLowerCase().trim();
    const statusField = fields.get('status') ?? '';
    if (/^(delivered|relayed|expanded)/.test(action) || (!action && statusField.startsWith('2'))) {
      success++;
      continue;
    }
    const diagnosticField = clean(fields.get('diagnostic-code') ?? '').replace(/^smtp;\s*/i, '');
    // Many servers put the words in the human-readable part only.
    const diagnostic = diagnosticField || nearText(humanText, email);
    const status = moreSpecific(statusIn(statusField), diagnostic);
    recipients.push(
      finish(
        {
          email,
          action: action.startsWith('delayed') ? 'delayed' : 'failed',
          status,
          diagnostic: diagnostic.slice(0, 1000),
        },
        humanText.slice(0, 8192),
        fields.get('remote-mta') ?? '',
        statusField.match(/^\s*[245]\.\d{1,3}\.\d{1,3}\s*\((.*)\)/)?.[1] ?? '',
      ),
    );
  }
  // A report whose first group already names a recipient (some servers omit the per-message group).
  if (
    !noPerMessageGroup &&
    perMessage &&
    recipients.length === 0 &&
    (perMessage.has('final-recipient') || perMessage.has('original-recipient'))
  ) {
    return readDeliveryStatus(statusText, humanText, true);
  }
  return {
    reportingMta: addressField(perMessage?.get('reporting-mta')) ?? 'unknown',
    recipients,
    onlySuccess: recipients.length === 0 && success > 0,
  };
}

/**
 * A Status field of `5.0.0` ("some permanent failure") says less than the code the remote server
 * gave in its own words (`550 5.1.1 user unknown`): the more specific one wins.
 */
function moreSpecific(status: string, diagnostic: string): string {
  const said = statusAfterReply(diagnostic) || statusIn(diagnostic);
  if (!status) return said;
  // X.4.7 "delivery time expired" is the reporting server giving up; the remote server's own last
  // code in the diagnostic ("…<421 4.4.2 Connection timed out>") says what kept failing.
  if (/^\d\.4\.7$/.test(status)) {
    const codes = [...diagnostic.matchAll(/\b[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/g)].map((m) => m[1]!);
    const last = codes.filter((c) => c !== status).at(-1);
    if (last && last[0] === status[0]) return last;
  }
  if (said && /^\d\.0\.0$/.test(status) && said[0] === status[0]) return said;
  // The remote server's own code, right after its reply code ("550 5.7.1 IP address blacklisted"),
  // is what it said; a different Status field (5.1.1) is the reporting server's translation.
  const remote = statusAfterReply(diagnostic);
  if (remote && remote !== status && remote[0] === status[0] && !/^\d\.4\.7$/.test(status)) return remote;
  return status;
}

/** The status right after an SMTP reply code (`550 5.7.1`, `550-5.7.1`), the remote server's own. */
function statusAfterReply(text: string): string {
  const m = /\b[245]\d\d[ -]['"]?([245]\.\d{1,3}\.\d{1,3})\b/.exec(text);
  return m?.[1] ?? '';
}

/** Some servers paste the delivery-status fields into the text instead of a separate part. */
function inlineDeliveryStatus(text: string): string | undefined {
  const at = text.search(/^[ \t]*(?:final-recipient|original-recipient)[ \t]*:/im);
  if (at < 0) return undefined;
  const lines = text
    .slice(at)
    .split('\n')
    .map((l) => l.trim());
  return `\n\n${lines.join('\n')}`;
}

// ---------------------------------------------------------------------------------------------
// Plain-text bounces
// ---------------------------------------------------------------------------------------------

const BOUNCE_SUBJECT =
  /undeliver|undelivered|delivery (?:status notification|failure|failed|has failed|problem|report|notification)|failure notice|returned mail|mail delivery (?:failed|failure|system|subsystem)|could not (?:be )?deliver|non[- ]?delivery|nondeliverable|rejected|bounce|warning: (?:could not|message|delayed)|delayed mail|mail system error|message (?:not delivered|status|you sent blocked)|unzustellbar|nicht zustellbar|não entregue|non remis|impossible|échec|unable to deliver|returned to sender|error|fehler|notice/i;
const BOUNCE_SENDER =
  /mailer-daemon|postmaster|mail(?:er)?[ -]?delivery|mail ?system|bounce|MAILER_DAEMON|mdaemon|postoffice|mail-?admin/i;
const FAILURE_WORDS =
  /could not be delivered|couldn't be delivered|unable to deliver|undeliverable|delivery (?:has )?failed|failed permanently|permanent (?:error|failure)|was not delivered|not be delivered|rejected|error|failed|unknown|blocked|refused|denied|temporary failure|delayed|bounced|returned/i;

/**
 * Where a bounce stops speaking and the copy of our message begins: the words before are about
 * the failure, the lines after are our own headers (where our Message-ID is found).
 */
const RETURNED_COPY =
  /^[ \t>]*(?:[-=_*]{2,}[ \t]*)?(?:(?:this is a copy of|below this line is a copy|a copy of the original|here is a copy|original message|returned message|undelivered message|the original message (?:headers|follows|is attached)|original message headers|headers of the original|message headers follow|unsent message below|returned mail|message that you sent|your message reads|your message was|your message follows|forwarded message|the message that failed)|(?:-{2,}[ \t]*(?:original|returned|undeliverable|attached))|content-type:[ \t]*message\/rfc822)/im;

function splitAtReturnedCopy(text: string): { failure: string; original: string } {
  let cut = text.length;
  const marker = RETURNED_COPY.exec(text);
  if (marker && marker.index > 0) cut = marker.index;
  const headers = /^(?:return-path|received|dkim-signature|x-received|arc-seal):/im.exec(text);
  if (headers && headers.index < cut && headers.index > 0) cut = headers.index;
  return { failure: text.slice(0, cut), original: text.slice(cut) };
}

function returnedHeaders(mail: BounceMail, original: string): string {
  const part = mail.parts.find((a) =>
    /^(text\/rfc822-headers|message\/(global-)?rfc822|text\/rfc822|message\/partial)$/i.test(a.contentType),
  );
  const fromPart = part ? headerBlockOf(part.content.toString('utf8')) : '';
  return `${fromPart}\n${original}`.replace(/\r\n/g, '\n');
}

function headerBlockOf(text: string): string {
  const end = text.search(/\r?\n\r?\n/);
  return end >= 0 ? text.slice(0, end) : text;
}

/** What may stand before a failed recipient at the start of its line. */
const LEADING =
  /^[\s>*\-•]*(?:[45]\d\d[ -])?(?:(?:rcpt to|to|recipient|original-recipient|final-recipient|address|user|mailbox|delivery to|failed|addressee|destinataire|empfänger)\b[^:<]{0,20}[:=]?\s*)?[<"'(\[]*$/i;
const NOT_RECIPIENT =
  /^(?:mailer-daemon|postmaster|mail-daemon|bounces?|noreply|no-reply|abuse|hostmaster|webmaster|root)@/i;

const ADDRESS =
  /[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\b/g;

function plainTextRecipients(
  mail: BounceMail,
  failure: string,
  own: Set<string>,
): Omit<BounceRecipient, 'reason' | 'suppresses'>[] {
  const action =
    /delay|warning|will (?:be )?retr|still trying|not yet been delivered|temporary failure|temporarily deferred/i.test(
      `${mail.header('subject') ?? ''}\n${failure.slice(0, 600)}`,
    ) && !/permanent|given up|gave up|giving up/i.test(failure)
      ? ('delayed' as const)
      : ('failed' as const);
  const failed = [
    ...addressesIn(mail.header('x-failed-recipients')),
    ...String(mail.header('x-failed-recipients') ?? '')
      .split(/[,\s]+/)
      .filter((a) => a.includes('@')),
  ];
  const lines = failure.replace(/\r\n/g, '\n').split('\n');
  // Candidates: addresses that start a line ("<user@host>:", "  user@host", "RCPT TO:<user@host>")
  // name failed recipients in nearly every format; an address inside a sentence is a recipient
  // only when no line names one.
  const scan = (leadingOnly: boolean) => {
    const out: { email: string; line: number }[] = [];
    const seen = new Set<string>();
    lines.forEach((line, i) => {
      if (
        /^\s*(?:message-id|in-reply-to|references|from|reply-to|sender|subject|date|return-path)\s*:/i.test(
          line,
        )
      )
        return;
      for (const m of line.matchAll(ADDRESS)) {
        const before = line.slice(0, m.index);
        if (leadingOnly && !LEADING.test(before)) continue;
        if (
          /(?:message-id|msgid|queue|id=|mail from[: ]*<?|sender[: ]*<?|from[: ]*<?|envelope-from[= ]*<?)\s*$/i.test(
            before,
          )
        )
          continue;
        const email = canonical(m[0].replace(/^[.'`]+|[.'`]+$/g, ''));
        if (!email || own.has(email) || seen.has(email) || NOT_RECIPIENT.test(email)) continue;
        if (/^[\da-f.$_-]{12,}@/i.test(email)) continue;
        seen.add(email);
        out.push({ email, line: i });
      }
    });
    return out;
  };
  const leading = scan(true);
  const found = leading.length > 0 ? leading : scan(false);
  const wanted = failed.map((a) => canonical(a.replace(/^<|>$/g, ''))).filter((a): a is string => Boolean(a));
  const chosen = wanted.length > 0 ? [...new Set(wanted)] : found.map((f) => f.email);
  return chosen.map((email) => {
    const at = found.find((f) => f.email === email);
    const diagnostic = at ? blockAfter(lines, at.line, found) : '';
    const words =
      diagnostic && (statusIn(diagnostic) || replyIn(diagnostic) || diagnostic.length > email.length + 20)
        ? diagnostic
        : clean(stripBoilerplate(failure));
    return {
      email,
      action,
      status: statusAfterReply(words) || statusIn(words),
      diagnostic: words.slice(0, 1000),
    };
  });
}

/** The lines from `line` to the next recipient (or a blank line after some words), joined. */
function blockAfter(lines: string[], line: number, found: { line: number }[]): string {
  const next = found.find((f) => f.line > line)?.line ?? lines.length;
  const out: string[] = [];
  for (let i = line; i < Math.min(next, line + 40); i++) {
    const l = lines[i]!.trim();
    const sofar = out.join(' ');
    if (l === '' && (replyIn(sofar) !== undefined || statusIn(sofar) || sofar.length > 600)) break;
    // Sendmail's list of failures, one "554 <address>... words" line each: a line of its own reply
    // code is the next entry, not more words about this one.
    if (i > line && /^[45]\d\d /.test(l) && /^\s*[45]\d\d /.test(lines[line]!)) break;
    out.push(l);
  }
  // An address alone on its line with the words before it ("The following address failed:"
  // comes after the words in some formats): also look at the lines above.
  const joined = clean(out.join(' '));
  if (joined.length < 40 && line > 0)
    return clean(`${lines.slice(Math.max(0, line - 3), line).join(' ')} ${joined}`);
  return joined;
}

/** The words near where a DSN's human-readable part names `email`. */
function nearText(text: string, email: string): string {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const i = lines.findIndex((l) => l.toLowerCase().includes(email));
  if (i < 0) return clean(stripBoilerplate(text)).slice(0, 1000);
  // Up to six lines, not into the next recipient's ("other@host: 552 …").
  const out = [lines[i]!];
  for (const l of lines.slice(i + 1, i + 6)) {
    if (/^\s*<?[^\s@<>]+@[^\s@<>]+>?:/.test(l)) break;
    out.push(l);
  }
  return clean(out.join(' '));
}

function stripBoilerplate(text: string): string {
  return (
    text
      .replace(/this (?:message|e-?mail) was created automatically by mail delivery software\.?/gi, '')
      .replace(/this is an automatically generated (?:delivery status notification|message)\.?/gi, '')
      // Gmail's wrapper around the remote server's words, which are what count.
      .replace(
        /google tried to deliver your message, but it was rejected by the [\s\S]*?the error that the other server returned was:/gi,
        '',
      )
  );
}

// ---------------------------------------------------------------------------------------------
// RFC 5965 complaints and RFC 3834 auto-replies
// ---------------------------------------------------------------------------------------------

function complaint(
  mail: BounceMail,
  report: string,
  reportId: string,
  envelopeCandidates: string[],
): ClassifiedMail {
  const fields = fieldGroups(report)[0] ?? new Map<string, string>();
  const part = mail.parts.find((a) =>
    /^(message\/(global-)?rfc822|text\/rfc822-headers)$/i.test(a.contentType),
  );
  const returned = part ? headerBlockOf(part.content.toString('utf8')) : '';
  // Original-Rcpt-To may repeat, one field per recipient of the reported message (RFC 5965 3.2).
  const explicit = [...report.matchAll(/^(?:original-rcpt-to|removal-recipient)[ \t]*:(.*)$/gim)]
    .map((m) => canonical(addressField(m[1]!.trim())))
    .filter((a): a is string => Boolean(a));
  const toLine = returned.match(/^to:[ \t]*(.*(?:\n[ \t].*)*)/im)?.[1] ?? '';
  const recipients =
    explicit.length > 0
      ? explicit
      : addressesInText(toLine)
          .map((a) => canonical(a))
          .filter((a): a is string => Boolean(a));
  const returnPath = (returned.match(/^return-path:.*$/gim) ?? []).flatMap((l) => addressesInText(l));
  return {
    kind: 'complaint',
    feedbackType: (fields.get('feedback-type') ?? 'abuse').toLowerCase().trim(),
    recipients: [...new Set(recipients)],
    reportId,
    envelopeCandidates: [...new Set([...envelopeCandidates, ...returnPath])],
    originalMessageId: messageIdIn(returned.match(/^message-id:[ \t]*(.*(?:\n[ \t].*)*)/im)?.[1]),
  };
}

function autoReplyReason(mail: BounceMail): string | undefined {
  const auto = (mail.header('auto-submitted') ?? '').toLowerCase();
  const precedence = (mail.header('precedence') ?? '').toLowerCase();
  const subject = mail.header('subject') ?? '';
  if (auto.startsWith('auto-replied')) return 'an automatic reply (Auto-Submitted: auto-replied)';
  if (mail.has('x-autoreply') || mail.has('x-autorespond') || mail.has('x-autoresponder'))
    return 'an automatic reply (X-Autoreply)';
  if (precedence === 'auto_reply') return 'an automatic reply (Precedence: auto_reply)';
  if (
    /^(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|out of (?:the )?office|vacation|on vacation|away from|abwesend|réponse automatique|respuesta automática|risposta automatica|自動応答|不在)/i.test(
      subject,
    )
  )
    return `an automatic reply ("${subject.replace(/[\r\n]/g, ' ').slice(0, 80)}")`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function bodyText(mail: BounceMail): string {
  const text = mail.text || htmlToText(mail.html);
  return text.replace(/\r\n/g, '\n');
}

function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, '')
    .replace(/<br\s*\/?>|<\/(p|div|tr|li|h\d)>/gi, '\n')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/&nbsp;/g, ' ')
    .replace(/&quot;/g, '"');
}

function reportingHost(mail: BounceMail): string {
  const from = fromOf(mail) ?? '';
  return from.split('@')[1] ?? 'unknown';
}

function fromOf(mail: BounceMail): string | undefined {
  return addressesIn(mail.header('from'))[0]?.toLowerCase();
}

/** The bounce's own From and Return-Path: never the failed recipient. (Its To is our VERP address.) */
function ownAddresses(mail: BounceMail): Set<string> {
  return new Set(
    [
      ...addressesIn(mail.header('from')),
      ...addressesIn(mail.header('to')),
      ...addressesIn(mail.header('return-path')),
    ]
      .map((a) => canonical(a))
      .filter((a): a is string => Boolean(a)),
  );
}

function clean(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
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
    if (colon <= 0 || /\s/.test(line.slice(0, colon).trim())) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    if (!current.has(last)) current.set(last, line.slice(colon + 1).trim());
  }
  if (current.size > 0) groups.push(current);
  return groups;
}

/** `rfc822; user@example.org` → `user@example.org` (also `dns; host`). */
function addressField(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const semi = value.indexOf(';');
  const bare = (semi >= 0 ? value.slice(semi + 1) : value).trim();
  const inAngles = bare.match(/<([^<>]+)>/)?.[1];
  const out = (inAngles ?? bare).trim();
  return out === '' ? undefined : out;
}

function messageIdIn(value: string | undefined): string | undefined {
  return value?.match(/<[^<>\s]+>/)?.[0];
}

function lastReference(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ids = value.match(/<[^<>\s]+>/g);
  return ids?.[ids.length - 1];
}

function addressesIn(value: string | undefined): string[] {
  return value ? addressesInText(value) : [];
}

function addressesInText(text: string): string[] {
  return [...text.matchAll(ADDRESS)].map((m) => m[0]);
}
