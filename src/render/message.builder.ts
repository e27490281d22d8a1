import { randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../config/config.loader.ts';
import type { TokenSigner } from '../subscriptions/tokens.ts';
import type { OutgoingMessage } from '../transports/transport.types.ts';
import { DkimSigner } from './dkim.signer.ts';
import {
  assertPlainAddress,
  encodeDisplayName,
  encodeHeaderText,
  foldHeader,
  encodeQuotedPrintableChunk,
  formatAddress,
  type Mailbox,
  parseMailbox,
  rfc5322Date,
  stripControl,
} from './mime.encoding.ts';
import type { IssueTemplate, SlotName, SlottedText } from './render.types.ts';
import { escapeHtml, fillSlots } from './template.engine.ts';
import { assertVerpFits, VerpAddresses } from './verp.address.ts';

export interface IssueRef {
  id: number;
  template: IssueTemplate;
  list: { id: number; slug: string; name: string };
}

export interface Recipient {
  email: string;
  name: string | null;
  subscriberId: number;
  deliveryId?: number;
}

export interface TransactionalInput {
  to: string;
  subject: string;
  html: string;
  text: string;
  /** `confirm`, `welcome`, `goodbye`, … — tagged on the message for logs and providers. */
  kind: string;
}

/** An issue's parts, encoded once and reused for every recipient. */
interface PreparedIssue {
  listId: string;
  subject: string;
  testSubject: string;
  fixedHeaders: string;
  fixedHeaderPairs: [string, string][];
  /** From the first boundary to the start of the text part's content. */
  textHead: Buffer;
  /** From the end of the text part to the start of the HTML part's content. */
  htmlHead: Buffer;
  /** The closing boundary. */
  tail: Buffer;
  html: EncodedSlotted;
  text: EncodedSlotted;
  greetingHtml: { before: string; after: string; anonymous: string };
  webUrl: string;
}

interface EncodedSlotted {
  /** Quoted-printable, ASCII; the last part without its final CRLF (the boundary line brings one). */
  parts: Buffer[];
  slots: SlotName[];
}

/**
 * Builds complete, personalised MIME messages. Everything that is the same for every reader of an
 * issue is worked out once (headers, the quoted-printable encoding of the HTML and text around the
 * slots); per recipient there are two or three HMACs, a few short encodings and one string join.
 * Quoted-printable is used because it can be spliced: encoded chunks concatenate (see
 * encodeQuotedPrintableChunk), which base64 cannot do without re-encoding the whole body.
 */
export class MessageBuilder {
  private readonly from: Mailbox;
  private readonly fromHeader: string;
  private readonly replyTo: string | undefined;
  private readonly bounce: Mailbox;
  private readonly publicUrl: string;
  private readonly dkim: DkimSigner | undefined;
  private readonly verp: VerpAddresses;
  private readonly prepared = new WeakMap<IssueTemplate, Map<number, PreparedIssue>>();

  constructor(
    private readonly config: Config,
    private readonly signer: TokenSigner,
  ) {
    this.from = parseMailbox(config.MAIL_FROM);
    this.fromHeader = foldHeader('From', formatAddress(this.from.address, this.from.name));
    this.replyTo = config.REPLY_TO
      ? foldHeader(
          'Reply-To',
          formatAddress(parseMailbox(config.REPLY_TO).address, parseMailbox(config.REPLY_TO).name),
        )
      : undefined;
    this.bounce = parseMailbox(config.BOUNCE_ADDRESS ?? config.MAIL_FROM);
    this.publicUrl = config.PUBLIC_URL;
    this.dkim = DkimSigner.fromConfig(config);
    const local = config.BOUNCE_ADDRESS
      ? this.bounce.address.slice(0, this.bounce.address.lastIndexOf('@'))
      : 'bounces';
    if (config.VERP) assertVerpFits(local);
    this.verp = new VerpAddresses(config.SECRET_KEY, local, this.bounce.domain);
  }

  /** One issue for one reader: the message the transport sends as is. */
  build(issue: IssueRef, recipient: Recipient, options: { test?: boolean } = {}): OutgoingMessage {
    const test = options.test === true;
    const p = this.prepare(issue);
    const to = assertPlainAddress(recipient.email);

    const { unsubscribeUrl, preferencesUrl } = this.links(issue, recipient, test);
    const name = cleanName(recipient.name);
    const g = issue.template.greeting;
    const htmlValues: Record<SlotName, string> = {
      greeting: name
        ? p.greetingHtml.before + escapeHtml(name) + p.greetingHtml.after
        : p.greetingHtml.anonymous,
      webUrl: escapeHtml(p.webUrl),
      preferencesUrl: escapeHtml(preferencesUrl),
      unsubscribeUrl: escapeHtml(unsubscribeUrl),
    };
    const textValues: Record<SlotName, string> = {
      greeting: name ? g.before + name + g.after : g.anonymous,
      webUrl: p.webUrl,
      preferencesUrl,
      unsubscribeUrl,
    };

    const messageId = this.newMessageId(issue.id, recipient.deliveryId);
    // Every header value is computed once and used both for the message and for the signature:
    // reading the clock twice (Date) once broke signatures whenever a build straddled a second.
    const now = Date.now();
    const pairs: [string, string][] = [
      ['From', this.fromHeader],
      ['To', foldHeader('To', formatAddress(to, name))],
      ['Subject', test ? p.testSubject : p.subject],
      ['Date', rfc5322Date(now)],
      ['Message-ID', messageId],
      ['List-Unsubscribe', `<${unsubscribeUrl}>`],
    ];
    const headerLines =
      pairs.map(([k, v]) => `${k}: ${v}\r\n`).join('') +
      (test ? 'X-Digestmail-Test: 1\r\n' : '') +
      p.fixedHeaders;

    // The body is assembled from precomputed buffers; only the slot values are encoded here.
    const body: Buffer[] = [p.textHead];
    fill(p.text, textValues, body);
    body.push(p.htmlHead);
    fill(p.html, htmlValues, body);
    body.push(p.tail);

    const signature = this.dkim ? `${this.dkim.sign([...pairs, ...p.fixedHeaderPairs], body, now)}\r\n` : '';
    body.unshift(Buffer.from(`${signature}${headerLines}\r\n`, 'utf8'));

    return {
      envelopeFrom: this.envelopeFrom(recipient.deliveryId),
      to: [to],
      raw: Buffer.concat(body),
      messageId,
      tags: {
        issueId: issue.id,
        ...(recipient.deliveryId !== undefined ? { deliveryId: recipient.deliveryId } : {}),
        kind: test ? 'test' : 'issue',
      },
    };
  }

  /** The signed links one reader gets: unsubscribe (`t: 1` marks a test send), preferences, web version. */
  links(
    issue: Pick<IssueRef, 'id' | 'list'>,
    recipient: Pick<Recipient, 'subscriberId'>,
    test = false,
  ): { unsubscribeUrl: string; preferencesUrl: string; webUrl: string } {
    const claims: Record<string, number> = { s: recipient.subscriberId, l: issue.list.id };
    if (test) claims.t = 1;
    return {
      unsubscribeUrl: `${this.publicUrl}/unsubscribe/${this.signer.sign('unsubscribe', claims)}`,
      preferencesUrl: `${this.publicUrl}/preferences/${this.signer.sign('preferences', {
        s: recipient.subscriberId,
        l: issue.list.id,
      })}`,
      webUrl: `${this.publicUrl}/archive/${issue.id}`,
    };
  }

  /**
   * The HTML and text one reader gets, unencoded: for previews and for pages that show an issue.
   * `build` produces the same content, spliced straight into quoted-printable.
   */
  personalise(
    issue: IssueRef,
    recipient: Pick<Recipient, 'name' | 'subscriberId'>,
    options: { test?: boolean } = {},
  ): { html: string; text: string } {
    const links = this.links(issue, recipient, options.test === true);
    const name = cleanName(recipient.name);
    const g = issue.template.greeting;
    const text = name ? g.before + name + g.after : g.anonymous;
    return {
      html: fillSlots(issue.template.html, {
        greeting: escapeHtml(text),
        webUrl: escapeHtml(links.webUrl),
        preferencesUrl: escapeHtml(links.preferencesUrl),
        unsubscribeUrl: escapeHtml(links.unsubscribeUrl),
      }),
      text: fillSlots(issue.template.text, { greeting: text, ...links }),
    };
  }

  /** Confirmation, welcome and goodbye mail: no list headers, marked as automatic (RFC 3834). */
  buildTransactional(input: TransactionalInput): OutgoingMessage {
    const to = assertPlainAddress(input.to);
    const messageId = this.newMessageId(0, undefined, input.kind);
    const boundary = `dm-${randomBytes(12).toString('hex')}`;
    const subject = foldHeader('Subject', encodeHeaderText(input.subject));
    const now = Date.now();
    const pairs: [string, string][] = [
      ['From', this.fromHeader],
      ['To', to],
      ['Subject', subject],
      ['Date', rfc5322Date(now)],
      ['Message-ID', messageId],
      ...(this.replyTo ? ([['Reply-To', this.replyTo]] as [string, string][]) : []),
      ['Auto-Submitted', 'auto-generated'],
      ['X-Digestmail-Kind', stripControl(input.kind)],
      ['MIME-Version', '1.0'],
      ['Content-Type', `multipart/alternative; boundary="${boundary}"`],
    ];
    const body = multipart(
      boundary,
      encodeQuotedPrintableChunk(ensureFinalNewline(input.text)),
      encodeQuotedPrintableChunk(ensureFinalNewline(input.html)),
    );
    const signature = this.dkim ? `${this.dkim.sign(pairs, body, now)}\r\n` : '';
    const headers = pairs.map(([k, v]) => `${k}: ${v}\r\n`).join('');
    return {
      envelopeFrom: this.bounce.address,
      to: [to],
      raw: Buffer.from(`${signature}${headers}\r\n${body}`, 'utf8'),
      messageId,
      tags: { kind: input.kind },
    };
  }

  /** The envelope sender: the bounce address, or with VERP one that names the delivery. */
  envelopeFrom(deliveryId?: number): string {
    if (!this.config.VERP || deliveryId === undefined) return this.bounce.address;
    return this.verp.address(deliveryId);
  }

  private newMessageId(issueId: number, deliveryId?: number, kind?: string): string {
    const left = kind ? `${kind}` : `${issueId}.${deliveryId ?? 't'}`;
    return `<${left}.${randomUUID()}@${this.from.domain}>`;
  }

  private prepare(issue: IssueRef): PreparedIssue {
    let byId = this.prepared.get(issue.template);
    if (!byId) {
      byId = new Map();
      this.prepared.set(issue.template, byId);
    }
    let p = byId.get(issue.id);
    if (p) return p;

    const t = issue.template;
    const listId = `<${issue.list.slug}.${this.from.domain}>`;
    // A phrase (RFC 2919 §3, RFC 5322 §3.2.5): quoted when the name holds specials (`Tech News: Weekly, …`).
    const listIdHeader = foldHeader('List-Id', `${encodeDisplayName(issue.list.name)} ${listId}`);
    const boundary = `dm-${randomBytes(12).toString('hex')}`;
    const pairs: [string, string][] = [
      ...(this.replyTo ? ([['Reply-To', this.replyTo]] as [string, string][]) : []),
      ['List-Id', listIdHeader],
      ['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'],
      ['Feedback-ID', `${issue.id}:${issue.list.slug}:newsletter:digestmail`],
      ['X-Digestmail-Issue', String(issue.id)],
      ['MIME-Version', '1.0'],
      ['Content-Type', `multipart/alternative; boundary="${boundary}"`],
    ];
    p = {
      listId,
      subject: foldHeader('Subject', encodeHeaderText(t.subject)),
      testSubject: foldHeader('Subject', encodeHeaderText(`[TEST] ${t.subject}`)),
      fixedHeaders: pairs.map(([k, v]) => `${k}: ${v}\r\n`).join(''),
      fixedHeaderPairs: pairs,
      textHead: Buffer.from(
        `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n`,
      ),
      htmlHead: Buffer.from(
        `\r\n--${boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n`,
      ),
      tail: Buffer.from(`\r\n--${boundary}--\r\n`),
      html: encodeSlotted(t.html),
      text: encodeSlotted(t.text),
      greetingHtml: {
        before: escapeHtml(t.greeting.before),
        after: escapeHtml(t.greeting.after),
        anonymous: escapeHtml(t.greeting.anonymous),
      },
      webUrl: `${this.publicUrl}/archive/${issue.id}`,
    };
    byId.set(issue.id, p);
    return p;
  }
}

/**
 * The delivery id a VERP envelope address names, or undefined when the address is not one of ours
 * or its signature does not verify (bounces can be forged; only a signed id is believed).
 */
export function parseVerpAddress(address: string, secret: string): number | undefined {
  return new VerpAddresses(secret, 'bounces', 'invalid').parse(address);
}

function cleanName(name: string | null): string {
  return name ? stripControl(name).trim().slice(0, 200) : '';
}

function encodeSlotted(text: SlottedText): EncodedSlotted {
  const last = text.parts.length - 1;
  const parts = text.parts.map((part, i) => {
    if (i < last) return Buffer.from(encodeQuotedPrintableChunk(part), 'latin1');
    // The last part ends with a line break, which the boundary line that follows provides.
    const encoded = encodeQuotedPrintableChunk(ensureFinalNewline(part));
    return Buffer.from(encoded.endsWith('\r\n') ? encoded.slice(0, -2) : encoded, 'latin1');
  });
  return { parts, slots: [...text.slots] };
}

function fill(encoded: EncodedSlotted, values: Record<SlotName, string>, out: Buffer[]): void {
  out.push(encoded.parts[0]!);
  for (let i = 0; i < encoded.slots.length; i++) {
    out.push(
      Buffer.from(encodeQuotedPrintableChunk(values[encoded.slots[i]!]), 'latin1'),
      encoded.parts[i + 1]!,
    );
  }
}

function multipart(boundary: string, text: string, html: string): string {
  const trim = (s: string) => (s.endsWith('\r\n') ? s.slice(0, -2) : s);
  return (
    `--${boundary}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    'Content-Transfer-Encoding: quoted-printable\r\n\r\n' +
    trim(text) +
    `\r\n--${boundary}\r\n` +
    'Content-Type: text/html; charset=utf-8\r\n' +
    'Content-Transfer-Encoding: quoted-printable\r\n\r\n' +
    trim(html) +
    `\r\n--${boundary}--\r\n`
  );
}

function ensureFinalNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
