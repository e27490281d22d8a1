import { TextDecoder } from 'node:util';

/**
 * The MIME reading the bounce classifier needs, and no more: the top-level header fields, the text
 * of the human-readable parts, the `message/delivery-status` and `message/feedback-report` parts,
 * and the header block of the returned copy of our message.
 *
 * Why hand-written, and not mailparser (which the classifier used before): mailparser is a full
 * streaming pipeline (mailsplit, libmime, iconv-lite, html-to-text, linkify) that decodes and
 * converts every part of every message, attachments and the returned copy included. Reading the
 * 536 real bounces of tests/fixtures/bounces it alone managed fewer messages per second than the
 * classifier's aim, and loading it cost ~20 MB of memory in a `bounces ingest` process. A bounce
 * needs a few small parts: this splitter walks the message once, as bytes, and decodes only those.
 * Character sets are Node's own WHATWG TextDecoder (full ICU: ISO-2022-JP, Shift_JIS, GB18030,
 * KOI8-R, windows-125x…), base64 is Buffer's; only the boundary walk, header unfolding, RFC 2047
 * encoded words and quoted-printable are written here, each a few lines of a well-specified format.
 */

/** A MIME limit was passed: the message is a stranger's attack or garbage, not a bounce to read. */
export class MimeLimitError extends Error {
  readonly code = 'bounces.mime_limit';
}

/** Deeper nesting or more parts than any real bounce has (the corpus' deepest is 4, its most parts 9). */
const MAX_DEPTH = 32;
const MAX_PARTS = 512;
/** The header block of the returned copy is kept; its body is our own message, never read. */
const MAX_RETURNED_BYTES = 64 * 1024;

export interface MimePart {
  /** Media type in lower case, `text/plain` when absent. */
  contentType: string;
  params: Record<string, string>;
  /** The body with its transfer encoding undone (for a returned message: at most its first 64 KB). */
  content: Buffer;
}

export interface BounceMail {
  /** The first value of a top-level header field, unfolded, encoded words decoded; undefined if absent. */
  header(name: string): string | undefined;
  has(name: string): boolean;
  /** Number of top-level header fields. */
  headerCount: number;
  contentType: string;
  contentTypeParams: Record<string, string>;
  /** Leaf parts (not those inside a returned `message/rfc822`, which is one part of its own). */
  parts: MimePart[];
  /** The text/plain parts outside returned messages, decoded and joined; '' when none. */
  text: string;
  /** The text/html parts outside returned messages, decoded and joined; '' when none. */
  html: string;
}

const RETURNED_TYPES = /^(?:message\/(?:global-)?rfc822|text\/rfc822-headers|message\/partial|text\/rfc822)$/;

export function parseBounceMail(raw: Buffer): BounceMail {
  // latin1 maps each byte to one char and back: the walk is on bytes, whatever the charsets.
  const source = raw.toString('latin1');
  const { fields, bodyStart } = readHeaderBlock(source, 0, source.length, true);
  const parts: MimePart[] = [];
  const texts: string[] = [];
  const htmls: string[] = [];
  const type = parseContentType(fields.get('content-type')?.[0]);
  const state = { count: 0 };
  walk(source, bodyStart, source.length, fields, 0, state, parts, texts, htmls);
  return {
    header: (name) => {
      const v = fields.get(name.toLowerCase())?.[0];
      return v === undefined ? undefined : decodeHeader(v);
    },
    has: (name) => fields.has(name.toLowerCase()),
    headerCount: fields.size,
    contentType: type.value,
    contentTypeParams: type.params,
    parts,
    text: texts.join('\n'),
    html: htmls.join('\n'),
  };
}

function walk(
  source: string,
  start: number,
  end: number,
  fields: Map<string, string[]>,
  depth: number,
  state: { count: number },
  parts: MimePart[],
  texts: string[],
  htmls: string[],
): void {
  if (depth > MAX_DEPTH) throw new MimeLimitError(`nested more than ${MAX_DEPTH} deep`);
  if (++state.count > MAX_PARTS) throw new MimeLimitError(`more than ${MAX_PARTS} parts`);
  const type = parseContentType(fields.get('content-type')?.[0]);
  const boundary = type.params.boundary;
  let pieces =
    type.value.startsWith('multipart/') && boundary ? splitMultipart(source, start, end, boundary) : [];
  if (type.value.startsWith('multipart/') && pieces.length === 0) {
    // The declared boundary is not in the body (a relay or an anonymiser rewrote one of them): the
    // first delimiter-like line of the body is taken as the boundary.
    const sniffed = /^--([^\s-][^\r\n]{0,69}?)[ \t]*\r?$/m.exec(
      source.slice(start, Math.min(end, start + 8192)),
    );
    if (sniffed) pieces = splitMultipart(source, start, end, sniffed[1]!);
  }
  if (pieces.length > 0) {
    for (const [from, to] of pieces) {
      const child = readHeaderBlock(source, from, to);
      walk(source, child.bodyStart, to, child.fields, depth + 1, state, parts, texts, htmls);
    }
    return;
  }
  // A multipart body without any of its delimiters (they were lost on the way) is read as text.
  if (type.value.startsWith('multipart/')) type.value = 'text/plain';
  const encoding = (fields.get('content-transfer-encoding')?.[0] ?? '').trim().toLowerCase();
  if (RETURNED_TYPES.test(type.value)) {
    const cut = Math.min(end, start + MAX_RETURNED_BYTES);
    parts.push({
      contentType: type.value,
      params: type.params,
      content: decodeBody(source, start, cut, encoding),
    });
    return;
  }
  const content = decodeBody(source, start, end, encoding);
  parts.push({ contentType: type.value, params: type.params, content });
  const disposition = (fields.get('content-disposition')?.[0] ?? '').toLowerCase();
  if (type.value === 'text/plain' || type.value === 'text/html') {
    // A text part sent as an attachment is read too when small: some servers attach the notice.
    if (disposition.startsWith('attachment') && content.length >= 200_000) return;
    const text = decodeText(content, type.params.charset);
    (type.value === 'text/plain' ? texts : htmls).push(text);
  }
}

/** [start, end) of each body part between the delimiter lines of `boundary`. */
function splitMultipart(source: string, start: number, end: number, boundary: string): [number, number][] {
  const delimiter = `--${boundary}`;
  const out: [number, number][] = [];
  let partStart = -1;
  let at = start;
  while (at < end) {
    const hit = source.indexOf(delimiter, at);
    if (hit < 0 || hit >= end) break;
    // A delimiter starts a line.
    if (hit !== start && source.charCodeAt(hit - 1) !== 10) {
      at = hit + delimiter.length;
      continue;
    }
    const after = hit + delimiter.length;
    const closing = source.startsWith('--', after);
    let lineEnd = source.indexOf('\n', after);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    // "--b1" is not a delimiter line of "--b10…": only "--", then blanks, may follow (RFC 2046 5.1.1).
    if (!/^(?:--)?[ \t\r]*$/.test(source.slice(after, lineEnd))) {
      at = after;
      continue;
    }
    if (partStart >= 0) {
      // The line break before the delimiter belongs to the delimiter.
      let partEnd = hit - 1;
      if (partEnd > partStart && source.charCodeAt(partEnd - 1) === 13) partEnd--;
      out.push([partStart, Math.max(partStart, partEnd)]);
    }
    if (closing) return out;
    partStart = Math.min(lineEnd + 1, end);
    at = partStart;
  }
  // No closing delimiter (a truncated message): the last part runs to the end.
  if (partStart >= 0 && partStart < end) out.push([partStart, end]);
  return out;
}

/** The header fields from `start` up to the first empty line, and where the body starts. */
function readHeaderBlock(
  source: string,
  start: number,
  end = source.length,
  topLevel = false,
): { fields: Map<string, string[]>; bodyStart: number } {
  const fields = new Map<string, string[]>();
  let at = start;
  let name = '';
  let value = '';
  const flush = () => {
    if (!name) return;
    const list = fields.get(name);
    if (list) list.push(value);
    else fields.set(name, [value]);
    name = '';
  };
  while (at < end) {
    let lineEnd = source.indexOf('\n', at);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    let line = source.slice(at, lineEnd);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const next = Math.min(lineEnd + 1, end);
    if (line === '') {
      flush();
      return { fields, bodyStart: next };
    }
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) {
      if (name) value += ` ${line.trim()}`;
    } else {
      const colon = line.indexOf(':');
      // A line that is not a field: an mbox "From " line atop a message is skipped; a part whose
      // first line is not a field has no header block at all.
      if (colon <= 0 || /[\s]/.test(line.slice(0, colon).trimEnd())) {
        if (at === start && !topLevel) return { fields, bodyStart: start };
        flush();
      } else {
        flush();
        name = line.slice(0, colon).trim().toLowerCase();
        value = line.slice(colon + 1).trim();
      }
    }
    at = next;
  }
  flush();
  return { fields, bodyStart: end };
}

function parseContentType(value: string | undefined): { value: string; params: Record<string, string> } {
  if (!value) return { value: 'text/plain', params: {} };
  const params: Record<string, string> = {};
  const semi = value.indexOf(';');
  const media = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  if (semi >= 0) {
    const re = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]*))/g;
    re.lastIndex = semi;
    const rest = value;
    for (const m of rest.matchAll(re)) {
      // RFC 2231 continuations (boundary*0=…) are joined; charset*=utf-8''… keeps its value.
      const key = m[1]!.toLowerCase().replace(/\*\d*\*?$/, '');
      const v = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
      params[key] = key in params && /\*\d+\*?$/.test(m[1]!) ? params[key] + v : v;
    }
  }
  return { value: media || 'text/plain', params };
}

function decodeBody(source: string, start: number, end: number, encoding: string): Buffer {
  const body = source.slice(start, end);
  if (encoding === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return Buffer.from(body, 'latin1');
}

/** RFC 2045 quoted-printable: `=XX` is a byte, `=` at a line end joins the lines. */
function decodeQuotedPrintable(text: string): Buffer {
  const joined = text.replace(/=[ \t]*\r?\n/g, '');
  const out = Buffer.allocUnsafe(joined.length);
  let n = 0;
  for (let i = 0; i < joined.length; i++) {
    const c = joined.charCodeAt(i);
    if (c === 61 && i + 2 < joined.length + 0) {
      const hex = joined.slice(i + 1, i + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        out[n++] = Number.parseInt(hex, 16);
        i += 2;
        continue;
      }
    }
    out[n++] = c & 0xff;
  }
  return out.subarray(0, n);
}

const decoders = new Map<string, TextDecoder | null>();

function decoderFor(charset: string): TextDecoder | null {
  const label = charset.trim().toLowerCase();
  let d = decoders.get(label);
  if (d === undefined) {
    try {
      d = new TextDecoder(label);
    } catch {
      d = null;
    }
    decoders.set(label, d);
  }
  return d;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes of a text in `charset`; without one (or one Node does not know), UTF-8 if valid, else Latin-1. */
function decodeText(bytes: Buffer, charset: string | undefined): string {
  const d = charset && !/^(?:us-ascii|ascii)$/i.test(charset) ? decoderFor(charset) : null;
  if (d) return d.decode(bytes);
  return bytesToText(bytes);
}

function bytesToText(bytes: Buffer): string {
  for (const b of bytes) {
    if (b > 0x7f) {
      try {
        return strictUtf8.decode(bytes);
      } catch {
        return bytes.toString('latin1');
      }
    }
  }
  return bytes.toString('latin1');
}

/** A header value: raw 8-bit bytes read as UTF-8 when they are, then RFC 2047 encoded words decoded. */
function decodeHeader(value: string): string {
  const text = /[\x80-\xff]/.test(value) ? bytesToText(Buffer.from(value, 'latin1')) : value;
  if (!text.includes('=?')) return text;
  return text
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g, (word, charset: string, enc: string, data: string) => {
      const d = decoderFor(charset.split('*')[0]!);
      if (!d) return word;
      const bytes =
        enc.toUpperCase() === 'B'
          ? Buffer.from(data, 'base64')
          : decodeQuotedPrintable(data.replace(/_/g, ' '));
      return d.decode(bytes);
    });
}
