import { encodeWord, encodeWords, foldLines, quoteString } from 'nodemailer/lib/mime-funcs';

/**
 * The small pieces of RFC 2045/2047/5322 that message building needs, written for speed: the
 * issue's HTML and text are encoded once, and per recipient only the short slot values are.
 */

const MAX_QP_LINE = 76;
/** Bytes written as themselves: printable ASCII but `=` (space and tab are decided by position). */
const QP_LITERAL = new Uint8Array(256);
for (let b = 33; b <= 126; b++) if (b !== 61) QP_LITERAL[b] = 1;
const HEX_DIGITS = Buffer.from('0123456789ABCDEF', 'latin1');

/**
 * Quoted-printable (RFC 2045 §6.7) of one chunk of text. Line breaks in the input become CRLF hard
 * breaks; long lines get soft breaks so no encoded line exceeds 76 characters. A chunk that does not
 * end with a line break ends with a soft break, so encoded chunks can simply be concatenated: that
 * is what lets per-recipient values be encoded alone and spliced into a precomputed body.
 *
 * Written into one buffer, runs of bytes that stand for themselves copied whole: every system mail
 * (a confirmation on each signup) is encoded whole, and building the result a character string at
 * a time was most of a confirmation's CPU (0.31 ms for 10 KB of HTML; 0.06 ms now).
 * tests/mime.encoding.test.ts checks it byte for byte against that first version.
 */
/** Whether byte `i` is written as itself: printable ASCII but `=`, or a space or tab before more text. */
function asItself(bytes: Buffer, i: number, n: number): boolean {
  const b = bytes[i]!;
  if (QP_LITERAL[b] === 1) return true;
  return (b === 32 || b === 9) && i + 1 < n && bytes[i + 1] !== 0x0a;
}

export function encodeQuotedPrintableChunk(text: string): string {
  if (text === '') return '';
  const bytes = Buffer.from(text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text, 'utf8');
  const n = bytes.length;
  // At most 3 bytes per input byte, plus a 3-byte soft break per 24 input bytes, plus the last one.
  const out = Buffer.allocUnsafe(n * 4 + 8);
  let o = 0;
  /** Characters on the current encoded line. */
  let line = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      line = 0;
      continue;
    }
    // A run of bytes written as themselves that fits on the line is copied as it is.
    if (asItself(bytes, i, n) && (b !== 46 || line > 0) && line < MAX_QP_LINE - 1) {
      const end = Math.min(n, i + MAX_QP_LINE - 1 - line);
      let j = i + 1;
      while (j < end && asItself(bytes, j, n)) j++;
      bytes.copy(out, o, i, j);
      o += j - i;
      line += j - i;
      i = j - 1;
      continue;
    }
    let literal = asItself(bytes, i, n);
    // A dot at the start of a line is encoded so no relay's dot handling can touch it.
    if (b === 46 && line === 0) literal = false;
    if (line + (literal ? 1 : 3) > MAX_QP_LINE - 1) {
      out[o++] = 0x3d;
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      line = 0;
      if (b === 46) literal = false;
    }
    if (literal) {
      out[o++] = b;
      line += 1;
    } else {
      out[o++] = 0x3d;
      out[o++] = HEX_DIGITS[b >> 4]!;
      out[o++] = HEX_DIGITS[b & 15]!;
      line += 3;
    }
  }
  if (line > 0 || bytes[n - 1] !== 0x0a) {
    out[o++] = 0x3d;
    out[o++] = 0x0d;
    out[o++] = 0x0a;
  }
  return out.toString('latin1', 0, o);
}

const ASCII_PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * RFC 2047 encoded words come from nodemailer's own header encoder (the one its mail composer uses):
 * words of at most 52 characters, split on whole characters, Q for mostly-Latin text and B for the
 * rest, exactly as nodemailer chooses. Folded with `foldHeader`, every line stays within 76.
 */
const ENCODED_WORD_MAX = 52;

function wordEncoding(value: string): 'Q' | 'B' {
  let nonLatin = 0;
  let latin = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x80) nonLatin++;
    else if ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)) latin++;
  }
  return nonLatin < latin ? 'Q' : 'B';
}

/** An unstructured header value (Subject): as is when plain ASCII, else RFC 2047 encoded words. */
export function encodeHeaderText(value: string): string {
  const clean = stripControl(value);
  if (ASCII_PRINTABLE.test(clean) && !/=\?/.test(clean)) return clean;
  return encodeWords(clean, wordEncoding(clean), ENCODED_WORD_MAX, true);
}

/**
 * A display name or List-Id phrase (RFC 5322 `phrase`): as is when plain words, a quoted string when
 * it holds specials such as `<`, `>`, `,`, `:` or `"`, encoded words otherwise.
 */
export function encodeDisplayName(name: string): string {
  const clean = stripControl(name).trim();
  if (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/.test(clean) && !/=\?/.test(clean)) return clean;
  if (ASCII_PRINTABLE.test(clean) && !/=\?/.test(clean)) return quoteString(clean);
  return encodeWord(clean, wordEncoding(clean), ENCODED_WORD_MAX);
}

/**
 * The value to write after `Name: ` so that the whole field is folded at white space into lines of
 * at most 76 characters where it can be (RFC 2047 §2 for lines with encoded words; RFC 5322 §2.1.1).
 * A value without white space to fold at (a long URL) stays on one line.
 */
export function foldHeader(name: string, value: string): string {
  const prefix = `${name}: `;
  // The common case, per recipient (To): short enough already.
  if (prefix.length + value.length <= 76 && !value.includes('\n')) return value;
  const folded = foldLines(prefix + value, 76);
  return folded.startsWith(prefix) ? folded.slice(prefix.length) : value;
}

export function formatAddress(address: string, name?: string | null): string {
  const clean = name ? stripControl(name).trim() : '';
  return clean ? `${encodeDisplayName(clean)} <${address}>` : address;
}

export interface Mailbox {
  name: string | undefined;
  address: string;
  domain: string;
}

/** `Name <user@example.org>` or `user@example.org` (the config has already checked the shape). */
export function parseMailbox(value: string): Mailbox {
  const m = /^\s*(?:"?(.*?)"?\s*)?<([^<>\s]+@[^<>\s]+)>\s*$/.exec(value);
  const address = (m ? m[2]! : value.trim()).toLowerCase();
  const name = m?.[1]?.trim() || undefined;
  return { name, address, domain: address.slice(address.lastIndexOf('@') + 1) };
}

/** Removes CR, LF and other control characters, which could otherwise forge headers. */
export function stripControl(value: string): string {
  return value.replace(/[\x00-\x1f\x7f]+/g, ' ');
}

/** An address safe to place in a header: one mailbox, no spaces, brackets or line breaks. */
export function assertPlainAddress(address: string): string {
  if (!/^[^\s<>()",;:@]+@[^\s<>()",;:@]+$/.test(address)) {
    throw new Error(`not a plain email address: ${JSON.stringify(address)}`);
  }
  return address;
}

let cachedSecond = -1;
let cachedDate = '';

/** RFC 5322 date, e.g. `Sun, 29 Nov 2026 03:10:00 +0000` (computed once per second). */
export function rfc5322Date(now: number = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(second * 1000).toUTCString().replace(/GMT$/, '+0000');
  }
  return cachedDate;
}
