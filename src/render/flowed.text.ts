/**
 * text/plain; format=flowed; delsp=yes (RFC 3676): lines of at most 78 characters that a mail client
 * joins back into paragraphs. delsp=yes because CJK text has no spaces to break at: a soft break is
 * "line, space, CRLF", and the decoder deletes that space, so a break between two Chinese characters
 * adds nothing; where we break at a real space, that space stays in front of the deleted one.
 * URLs (and the slot marks that become URLs) are never broken: a line holding one may be longer.
 *
 * Hand-written: nodemailer and libmime only decode flowed text or fold without regard to URLs and
 * CJK, and this runs once per issue on our own text.
 */

export const FLOWED_WIDTH = 78;

export interface WrapOptions {
  width?: number;
  /** Tokens known to become long (URL slot marks): always placed at the start of a line. */
  wide?: RegExp;
}

// Han, kana, Hangul and CJK punctuation / full-width forms: a line may break between any two.
const CJK = '\\u2e80-\\u9fff\\ua960-\\ua97f\\uac00-\\ud7af\\uf900-\\ufaff\\ufe30-\\ufe4f\\uff00-\\uffef';
// A CJK character with the closing punctuation after it (so no line starts with "，" or "。").
const PIECES = new RegExp(
  `[${CJK}][\\u3001\\u3002\\uff0c\\uff0e\\uff1a\\uff1b\\uff01\\uff1f\\uff09\\u300d\\u300f\\u300b\\u3011]*|[^${CJK}]+`,
  'g',
);
const CJK_START = new RegExp(`^[${CJK}]`);
const CJK_ALL = new RegExp(`[${CJK}]`, 'g');

/**
 * Width in columns: CJK characters take two, as terminals and monospaced clients draw them, so a
 * Chinese line is wrapped at 39 characters (78 columns) rather than twice as wide as a Latin one.
 * Always at least the number of characters, so the 78-character limit holds as well.
 */
function columns(text: string): number {
  return text.length + (text.match(CJK_ALL)?.length ?? 0);
}

interface Piece {
  /** White space before the piece ('' when it follows the previous one directly). */
  gap: string;
  text: string;
  /** Whether a line may end before this piece. */
  breakable: boolean;
  /** A URL or wide token: never split, and counted as too long to share a line when `wide`. */
  wide: boolean;
}

function pieces(line: string, wide: RegExp | undefined): { indent: string; list: Piece[] } {
  const indent = /^[ \t]*/.exec(line)![0];
  const list: Piece[] = [];
  for (const m of line.slice(indent.length).matchAll(/(\s*)(\S+)/g)) {
    const gap = m[1]!;
    const word = m[2]!;
    const isWide = wide?.test(word) === true;
    if (isWide || word.includes('://') || word.startsWith('mailto:')) {
      list.push({ gap, text: word, breakable: true, wide: isWide });
      continue;
    }
    let first = true;
    let previousCjk = false;
    for (const p of word.match(PIECES) ?? [word]) {
      const cjk = CJK_START.test(p);
      list.push({ gap: first ? gap : '', text: p, breakable: first || cjk || previousCjk, wide: false });
      first = false;
      previousCjk = cjk;
    }
  }
  return { indent, list };
}

/** Space-stuffing (RFC 3676 §4.4): lines starting with a space, ">" or "From " get one more space. */
function stuff(line: string): string {
  return /^(?: |>|From )/.test(line) ? ` ${line}` : line;
}

/** One logical line (no line breaks in it) as flowed lines joined with "\n". */
function wrapLine(line: string, width: number, wide: RegExp | undefined): string {
  const hard = line.replace(/[ \t]+$/, '');
  const widePart = wide?.test(hard) === true && !new RegExp(`^\\s*(?:${wide.source})$`).test(hard);
  if (columns(stuff(hard)) <= width && !widePart) return stuff(hard);
  // Room for a kept space, the soft-break space and a stuffing space.
  const limit = width - 3;
  const { indent, list } = pieces(hard, wide);
  const out: string[] = [];
  let current = indent;
  let empty = true;
  for (const p of list) {
    if (empty) {
      // The first piece of a line always goes on it, however long (an unbreakable URL).
      current += p.text;
      empty = false;
      continue;
    }
    const length = p.wide ? limit + 1 : columns(p.text);
    if (!p.breakable || columns(current) + p.gap.length + length <= limit) {
      current += p.gap + p.text;
      continue;
    }
    out.push(stuff(`${current}${p.gap} `));
    current = p.text;
  }
  out.push(stuff(current));
  return out.join('\n');
}

/** The whole text, wrapped line by line; blank lines and short lines stay as they are. */
export function wrapFlowed(text: string, options: WrapOptions = {}): string {
  const width = options.width ?? FLOWED_WIDTH;
  return text
    .split('\n')
    .map((line) => wrapLine(line, width, options.wide))
    .join('\n');
}

/**
 * What a flowed-aware client shows: stuffing removed and soft breaks joined (delsp=yes). For
 * previews and pages that show the text part.
 */
export function unwrapFlowed(text: string): string {
  const out: string[] = [];
  let paragraph = '';
  for (const raw of text.split('\n')) {
    const line = raw.startsWith(' ') ? raw.slice(1) : raw;
    if (line.endsWith(' ') && line !== '-- ') {
      paragraph += line.slice(0, -1);
    } else {
      out.push(paragraph + line);
      paragraph = '';
    }
  }
  if (paragraph) out.push(paragraph);
  return out.join('\n');
}
