import { randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../config/config.loader.ts';
import { escapeHtml } from '../core/html.text.ts';
import type { OutgoingMessage } from '../core/outgoing-message.ts';
import { cleanName } from '../core/person-name.text.ts';
import type { TokenSigner } from '../core/tokens.ts';
import { DkimSigner } from './dkim.signer.ts';
import { unwrapFlowed, wrapFlowed } from './flowed.text.ts';
import {
  assertPlainAddress,
  encodeDisplayName,
  encodeHeaderText,
  encodeQuotedPrintableChunk,
  foldHeader,
  formatAddress,
  type Mailbox,
  parseMailbox,
  rfc5322Date,
  stripControl,
} from './mime.encoding.ts';
import type { IssueTemplate, SlottedText } from './render.types.ts';
import { fillSlots, type SlotValues } from './template.engine.ts';
import { assertVerpFits, VerpAddresses } from './verp.address.ts';

export interface IssueRef {
  id: number;
  template: IssueTemplate;
  list: { id: number; slug: string; name: string; trackClicks?: boolean };
}

export interface Recipient {
  email: string;
  name: string | null;
  subscriberId: number;
  deliveryId?: number;
  /** False when the reader turned click counting off for themselves. */
  trackClicks?: boolean;
}

export interface TransactionalInput {
  to: string;
  subject: string;
  /** The HTML, or a template of it (the same object for every message of its kind) and its values. */
  html: string | SlottedHtml;
  text: string;
  /** `confirm`, `welcome`, `goodbye`, … — tagged on the message for logs and providers. */
  kind: string;
}

/**
 * A system mail's HTML as a template with holes and this message's values (already HTML-escaped):
 * the template is encoded once per builder, and per message only the values are (see encodeSlotted).
 */
export interface SlottedHtml {
  template: SlottedText<string>;
  values: Readonly<Record<string, string>>;
}

/** A system mail template's HTML, encoded once, with the boundary of the messages made from it. */
interface PreparedTransactional {
  boundary: string;
  /** From the end of the text part to the start of the HTML part's content. */
  htmlHead: Buffer;
  /** The closing boundary. */
  tail: Buffer;
  html: EncodedSlotted;
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
  /** The HTML whose links go through the click redirect (lists that count clicks). */
  tracked: EncodedSlotted | undefined;
  text: EncodedSlotted;
  greetingHtml: { before: string; after: string; anonymous: string };
  webUrl: string;
}

type TransferEncoding = 'quoted-printable' | 'base64';

interface EncodedSlotted {
  encoding: TransferEncoding;
  /**
   * quoted-printable: each part encoded (ASCII), the last without its final CRLF (the boundary line
   * brings one). base64: each part's UTF-8 bytes with CRLF line ends, encoded per message.
   */
  parts: Buffer[];
  /** base64 only: for each part, its encoding from byte 0, 1 and 2 on (see fillBase64). */
  folded?: [Buffer, Buffer, Buffer][];
  slots: string[];
}

/**
 * Builds complete, personalised MIME messages. Everything that is the same for every reader of an
 * issue is worked out once (headers, the quoted-printable encoding of the HTML and text around the
 * slots); per recipient there are two or three HMACs, a few short encodings and one string join.
 * Each part goes out in the smaller of quoted-printable and base64, chosen once per issue from the
 * template: quoted-printable for mostly-ASCII text (it can be spliced: encoded chunks concatenate,
 * see encodeQuotedPrintableChunk), base64 for CJK-heavy text, where quoted-printable spends 9 bytes
 * on a character. A base64 part is spliced too: its template parts are encoded once, and per message
 * only the slot values and the few bytes around them are (see fillBase64).
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
  private readonly preparedTransactional = new WeakMap<SlottedText<string>, PreparedTransactional>();

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
    const name = cleanName(recipient.name) ?? '';
    const g = issue.template.greeting;
    const clickBase = this.clickBase(issue, recipient, test);
    const htmlValues: SlotValues = {
      greeting: name
        ? p.greetingHtml.before + escapeHtml(name) + p.greetingHtml.after
        : p.greetingHtml.anonymous,
      webUrl: escapeHtml(p.webUrl),
      preferencesUrl: escapeHtml(preferencesUrl),
      unsubscribeUrl: escapeHtml(unsubscribeUrl),
      ...(clickBase ? { clickBase: escapeHtml(clickBase) } : {}),
    };
    const greeting = name ? g.before + name + g.after : g.anonymous;
    const textValues: SlotValues = {
      // The greeting is a line of its own; a long name wraps like the rest of a flowed text. Up to
      // 38 characters (76 columns even if all CJK) with nothing to stuff, it is already a flowed line.
      greeting:
        issue.template.textFlowed && (greeting.length > 38 || /^(?: |>|From )/.test(greeting))
          ? wrapFlowed(greeting)
          : greeting,
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
    fill(clickBase && p.tracked ? p.tracked : p.html, htmlValues, body);
    body.push(p.tail);

    const signature = this.dkim ? `${this.dkim.sign([...pairs, ...p.fixedHeaderPairs], body, now)}\r\n` : '';
    body.unshift(Buffer.from(`${signature}${headerLines}\r\n`, 'utf8'));

    // The pieces are most of the issue's shared buffers plus a few small ones: the SMTP transport
    // writes them as they are; joined once, for a transport that reads raw.
    let joined: Buffer | undefined;
    return {
      envelopeFrom: this.envelopeFrom(recipient.deliveryId),
      to: [to],
      get raw() {
        joined ??= Buffer.concat(body);
        return joined;
      },
      parts: body,
      messageId,
      tags: {
        issueId: issue.id,
        ...(recipient.deliveryId !== undefined ? { deliveryId: recipient.deliveryId } : {}),
        kind: test ? 'test' : 'issue',
      },
    };
  }

  /**
   * The base of one reader's click redirects (`PUBLIC_URL/c/<token>`, a link's position follows),
   * or undefined when their clicks are not counted: the list does not count them, the reader turned
   * it off, it is a test send, or there is no delivery to count against. One signature per message,
   * naming the issue and the delivery; the position is checked against the issue's stored links.
   */
  private clickBase(issue: IssueRef, recipient: Recipient, test: boolean): string | undefined {
    if (
      test ||
      !issue.list.trackClicks ||
      recipient.trackClicks === false ||
      recipient.deliveryId === undefined
    ) {
      return undefined;
    }
    if (!issue.template.tracked) return undefined;
    return `${this.publicUrl}/c/${this.signer.sign('click', { i: issue.id, d: recipient.deliveryId })}`;
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
    const name = cleanName(recipient.name) ?? '';
    const g = issue.template.greeting;
    const text = name ? g.before + name + g.after : g.anonymous;
    return {
      html: fillSlots(issue.template.html, {
        greeting: escapeHtml(text),
        webUrl: escapeHtml(links.webUrl),
        preferencesUrl: escapeHtml(links.preferencesUrl),
        unsubscribeUrl: escapeHtml(links.unsubscribeUrl),
      }),
      // What a reader's client shows: a flowed text joined back into its paragraphs.
      text: issue.template.textFlowed
        ? unwrapFlowed(fillSlots(issue.template.text, { greeting: wrapFlowed(text), ...links }))
        : fillSlots(issue.template.text, { greeting: text, ...links }),
    };
  }

  /** Confirmation, welcome and goodbye mail: no list headers, marked as automatic (RFC 3834). */
  buildTransactional(input: TransactionalInput): OutgoingMessage {
    const to = assertPlainAddress(input.to);
    const messageId = this.newMessageId(0, undefined, input.kind);
    // A template: its HTML (most of the message) was encoded with the first message made from it.
    const prepared =
      typeof input.html === 'string' ? undefined : this.prepareTransactional(input.html.template);
    const boundary = prepared?.boundary ?? `dm-${randomBytes(12).toString('hex')}`;
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
    const text = wrapFlowed(input.text);
    if (typeof input.html === 'string') {
      const body = multipart(boundary, text, input.html);
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
    const p = prepared!;
    const t = encodePart(text);
    const body: Buffer[] = [
      Buffer.from(
        `--${p.boundary}\r\nContent-Type: text/plain; charset=utf-8${FLOWED_PARAMS}\r\n` +
          `Content-Transfer-Encoding: ${t.encoding}\r\n\r\n${t.body}`,
        'latin1',
      ),
      p.htmlHead,
    ];
    fill(p.html, input.html.values, body);
    body.push(p.tail);
    const signature = this.dkim ? `${this.dkim.sign(pairs, body, now)}\r\n` : '';
    body.unshift(Buffer.from(`${signature}${pairs.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'utf8'));
    let joined: Buffer | undefined;
    return {
      envelopeFrom: this.bounce.address,
      to: [to],
      get raw() {
        joined ??= Buffer.concat(body);
        return joined;
      },
      parts: body,
      messageId,
      tags: { kind: input.kind },
    };
  }

  private prepareTransactional(template: SlottedText<string>): PreparedTransactional {
    let p = this.preparedTransactional.get(template);
    if (p) return p;
    const boundary = `dm-${randomBytes(12).toString('hex')}`;
    const html = encodeSlotted(template);
    p = {
      boundary,
      htmlHead: Buffer.from(
        `\r\n--${boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: ${html.encoding}\r\n\r\n`,
      ),
      tail: Buffer.from(`\r\n--${boundary}--\r\n`),
      html,
    };
    this.preparedTransactional.set(template, p);
    return p;
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
    const html = encodeSlotted(t.html);
    const text = encodeSlotted(t.text);
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
        `--${boundary}\r\nContent-Type: text/plain; charset=utf-8${t.textFlowed ? FLOWED_PARAMS : ''}\r\nContent-Transfer-Encoding: ${text.encoding}\r\n\r\n`,
      ),
      htmlHead: Buffer.from(
        `\r\n--${boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: ${html.encoding}\r\n\r\n`,
      ),
      tail: Buffer.from(`\r\n--${boundary}--\r\n`),
      html,
      // Same encoding as the plain HTML: both follow the one htmlHead.
      tracked: t.tracked ? encodeSlotted(t.tracked, html.encoding) : undefined,
      text,
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

/** Also here for the tests that build a message and read its envelope back; it lives in verp.address.ts. */
export { parseVerpAddress } from './verp.address.ts';

/** Content-Type parameters of a text part wrapped by wrapFlowed (RFC 3676). */
const FLOWED_PARAMS = '; format=flowed; delsp=yes';

/** Bytes of `n` bytes of content in base64 with a CRLF after every 76 characters. */
function base64Size(n: number): number {
  const chars = Math.ceil(n / 3) * 4;
  return chars + 2 * Math.max(0, Math.ceil(chars / 76) - 1);
}

/** base64 in lines of 76 characters (RFC 2045 §6.8), without a final CRLF. */
function base64Lines(content: Buffer): Buffer {
  const encoded = content.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += 76) lines.push(encoded.slice(i, i + 76));
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** Text in canonical form for base64 (RFC 2045 §6.8: line breaks as CRLF). */
function crlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

/** The last part's final line break belongs to the boundary line that follows. */
function withoutFinalNewline(text: string): string {
  return text.endsWith('\n') ? text.slice(0, text.endsWith('\r\n') ? -2 : -1) : text;
}

function encodeSlotted(text: SlottedText<string>, encoding?: EncodedSlotted['encoding']): EncodedSlotted {
  const last = text.parts.length - 1;
  const qp = text.parts.map((part, i) => {
    if (i < last) return Buffer.from(encodeQuotedPrintableChunk(part), 'latin1');
    const encoded = encodeQuotedPrintableChunk(ensureFinalNewline(part));
    return Buffer.from(encoded.endsWith('\r\n') ? encoded.slice(0, -2) : encoded, 'latin1');
  });
  const raw = text.parts.map((part, i) =>
    Buffer.from(crlf(i < last ? part : withoutFinalNewline(part)), 'utf8'),
  );
  // Slot values are short and mostly ASCII (links, a name): the template decides.
  const qpSize = qp.reduce((n, b) => n + b.length, 0);
  const b64Size = base64Size(raw.reduce((n, b) => n + b.length, 0));
  if ((encoding ?? (qpSize <= b64Size ? 'quoted-printable' : 'base64')) === 'quoted-printable') {
    return { encoding: 'quoted-printable', parts: qp, slots: [...text.slots] };
  }
  const folded = raw.map(
    (bytes) =>
      [0, 1, 2].map((k) => {
        const end = k + Math.floor(Math.max(0, bytes.length - k) / 3) * 3;
        return base64Lines(bytes.subarray(Math.min(k, bytes.length), end));
      }) as [Buffer, Buffer, Buffer],
  );
  return { encoding: 'base64', parts: raw, folded, slots: [...text.slots] };
}

const CRLF = Buffer.from('\r\n');
const NOTHING: Buffer = Buffer.alloc(0);

/**
 * base64 of `parts[0] + value + parts[1] + …` without encoding the parts again. base64 works in
 * groups of 3 bytes, and decoders ignore line breaks (RFC 2045 §6.8: lines of at most 76
 * characters, shorter is fine), so the message is a run of segments each starting on a group
 * boundary: the 0-2 bytes left over from what came before are completed from the next part's first
 * bytes, and the rest of that part is its precomputed encoding from that byte on. Per message this
 * encodes only the slot values and a few bytes around each.
 */
function fillBase64(
  encoded: EncodedSlotted,
  values: Readonly<Record<string, string | undefined>>,
  out: Buffer[],
): void {
  let pending = NOTHING;
  let first = true;
  const emit = (lines: Buffer) => {
    if (lines.length === 0) return;
    if (!first) out.push(CRLF);
    out.push(lines);
    first = false;
  };
  const addPart = (i: number) => {
    const bytes = encoded.parts[i]!;
    let k = (3 - pending.length) % 3;
    if (k > 0) {
      if (bytes.length < k) {
        pending = Buffer.concat([pending, bytes]);
        return;
      }
      emit(base64Lines(Buffer.concat([pending, bytes.subarray(0, k)])));
    } else {
      k = 0;
    }
    emit(encoded.folded![i]![k]!);
    pending = bytes.subarray(k + Math.floor((bytes.length - k) / 3) * 3);
  };
  const addValue = (value: string) => {
    const all = Buffer.concat([pending, Buffer.from(crlf(value), 'utf8')]);
    const whole = Math.floor(all.length / 3) * 3;
    emit(base64Lines(all.subarray(0, whole)));
    pending = all.subarray(whole);
  };
  addPart(0);
  for (let i = 0; i < encoded.slots.length; i++) {
    addValue(values[encoded.slots[i]!] ?? '');
    addPart(i + 1);
  }
  if (pending.length > 0) emit(base64Lines(pending));
}

function fill(
  encoded: EncodedSlotted,
  values: Readonly<Record<string, string | undefined>>,
  out: Buffer[],
): void {
  if (encoded.encoding === 'base64') {
    fillBase64(encoded, values, out);
    return;
  }
  out.push(encoded.parts[0]!);
  for (let i = 0; i < encoded.slots.length; i++) {
    out.push(
      Buffer.from(encodeQuotedPrintableChunk(values[encoded.slots[i]!] ?? ''), 'latin1'),
      encoded.parts[i + 1]!,
    );
  }
}

/** One whole part (transactional mail) in the smaller of the two encodings. */
function encodePart(text: string): { encoding: TransferEncoding; body: string } {
  const qp = encodeQuotedPrintableChunk(ensureFinalNewline(text));
  const bytes = Buffer.from(crlf(withoutFinalNewline(text)), 'utf8');
  if (qp.length <= base64Size(bytes.length)) {
    return { encoding: 'quoted-printable', body: qp.endsWith('\r\n') ? qp.slice(0, -2) : qp };
  }
  return { encoding: 'base64', body: base64Lines(bytes).toString('latin1') };
}

function multipart(boundary: string, text: string, html: string): string {
  const t = encodePart(text);
  const h = encodePart(html);
  return (
    `--${boundary}\r\n` +
    `Content-Type: text/plain; charset=utf-8${FLOWED_PARAMS}\r\n` +
    `Content-Transfer-Encoding: ${t.encoding}\r\n\r\n` +
    t.body +
    `\r\n--${boundary}\r\n` +
    'Content-Type: text/html; charset=utf-8\r\n' +
    `Content-Transfer-Encoding: ${h.encoding}\r\n\r\n` +
    h.body +
    `\r\n--${boundary}--\r\n`
  );
}

/**
 * The size of a built message's HTML part: decoded (what Gmail's 102 KB clipping counts, roughly)
 * and as sent (the encoded bytes on the wire, what providers bill). For the preview and
 * `digest check`. Reads only messages this builder made (one multipart/alternative), which is why a
 * few lines do here what a general MIME parser would.
 */
export function htmlPartSizes(raw: Buffer): { decoded: number; sent: number; encoding: string } {
  const text = raw.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  const boundary = /boundary="([^"]+)"/i.exec(text.slice(0, headEnd).replace(/\r\n[ \t]/g, ' '))?.[1];
  if (!boundary) throw new Error('not a multipart message built by MessageBuilder');
  for (const part of text.slice(headEnd).split(`\r\n--${boundary}`).slice(1)) {
    const partHeadEnd = part.indexOf('\r\n\r\n');
    if (partHeadEnd < 0) continue;
    const head = part.slice(0, partHeadEnd);
    if (!/^Content-Type:\s*text\/html/im.test(head)) continue;
    const content = part.slice(partHeadEnd + 4);
    const encoding = (/^Content-Transfer-Encoding:\s*(\S+)/im.exec(head)?.[1] ?? '7bit').toLowerCase();
    let decoded = content.length;
    if (encoding === 'base64') decoded = Buffer.from(content, 'base64').length;
    else if (encoding === 'quoted-printable') {
      const unfolded = content.replace(/=\r\n/g, '');
      decoded = unfolded.length - 2 * (unfolded.match(/=[0-9A-F]{2}/gi)?.length ?? 0);
    }
    return { decoded, sent: content.length, encoding };
  }
  throw new Error('the message has no text/html part');
}

function ensureFinalNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
