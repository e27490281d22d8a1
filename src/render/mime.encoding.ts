import { encodeWord, encodeWords, foldLines, quoteString } from 'nodemailer/lib/mime-funcs';

/**
 * The small pieces of RFC 2045/2047/5322 that message building needs, written for speed: the
 * issue's HTML and text are encoded once, and per recipient only the short slot values are.
 */

const HEX = '0123456789ABCDEF';
const MAX_QP_LINE = 76;

/**
 * Quoted-printable (RFC 2045 §6.7) of one chunk of text. Line breaks in the input become CRLF hard
 * breaks; long lines get soft breaks so no encoded line exceeds 76 characters. A chunk that does not
 * end with a line break ends with a soft break, so encoded chunks can simply be concatenated: that
 * is what lets per-recipient values be encoded alone and spliced into a precomputed body.
 */
export function encodeQuotedPrintableChunk(text: string): string {
  if (text === '') return '';
  const bytes = Buffer.from(text.replace(/\r\n?/g, '\n'), 'utf8');
  const out: string[] = [];
  let line = '';
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === 0x0a) {
      out.push(line, '\r\n');
      line = '';
      continue;
    }
    let piece: string;
    const atLineEnd = i + 1 === n || bytes[i + 1] === 0x0a;
    if ((b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !atLineEnd)) {
      // A dot at the start of a line is encoded so no relay's dot handling can touch it.
      piece = b === 46 && line === '' ? '=2E' : String.fromCharCode(b);
    } else {
      piece = `=${HEX[b >> 4]}${HEX[b & 15]}`;
    }
    if (line.length + piece.length > MAX_QP_LINE - 1) {
      out.push(line, '=\r\n');
      line = piece === '.' ? '=2E' : piece;
    } else {
      line += piece;
    }
  }
  if (line !== '' || bytes[n - 1] !== 0x0a) out.push(line, '=\r\n');
  return out.join('');
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
