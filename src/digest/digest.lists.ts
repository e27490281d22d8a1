import type { DigestNote } from './digest.types.ts';

/**
 * Numbered lists as editors write them, made into lists CommonMark reads the way they meant.
 *
 * Why this exists: in CommonMark an ordered item's content starts after the marker and its spaces, and
 * a later line belongs to the item only when indented at least that far. Digests are written with one
 * fixed summary indent for every item — `1.␣␣[headline](url)` with summaries at four spaces, or `1.␣`
 * with three — so `10.␣␣` moves the content to column 5, the four-space summary no longer belongs to
 * the item, the list ends, and items 10 and up become code blocks and a second list in the commentary.
 * Nothing warns, and the email says "9 stories". The fix is a pre-pass on the Markdown, not a fork of
 * markdown-it's list rule: markdown-it stays the maintained parser of everything else (the block rules
 * interact in many ways a fork would have to track), and a pre-pass that only rewrites the leading
 * spaces of lines in a numbered list is small, keeps every line where it was (so every token's line
 * number still points into the editor's file), and can be read on its own.
 *
 * What it does, for each run of top-level numbered items (`1.` or `1)`, indented 0–3 spaces):
 * - every marker is rewritten to the same width (`7.` and `107.` both put their content in the same
 *   column, the widest marker plus one space), with the first item's delimiter;
 * - the lines that belong to an item — indented at least one space, or lazily continuing a paragraph —
 *   are shifted so the item's least-indented line lands exactly on that column; deeper lines keep their
 *   depth relative to it, so nested lists and real (deeper) code blocks keep their meaning (an item
 *   that is only indented code, four columns deeper than the other items' summaries, stays code);
 * - a numbered line indented less than the item's own summary is the next item, not a nested list.
 * A run ends at a line at column 0 that is neither an item nor the lazy continuation of a paragraph.
 * Numbering that restarts or skips keeps every item in order and adds a note naming the line.
 */
export interface NormalisedLists {
  text: string;
  notes: DigestNote[];
}

interface ExpandedLine {
  indent: number;
  /** The line without its leading whitespace. */
  rest: string;
  blank: boolean;
}

const MARKER = /^(\d{1,9})([.)])(?:([ ]+)(.*))?$/;
const FENCE = /^(`{3,}|~{3,})/;
/** Block starts that cannot be the lazy continuation of a paragraph. */
const BLOCK_START = /^(?:#{1,6}(?:\s|$)|>|[-*+](?:\s|$)|(?:[-*_][ \t]*){3,}$|`{3,}|~{3,}|=+\s*$|\|)/;

/** `lineOffset` turns a 0-based body line into the 1-based line in the file, for notes. */
export function normaliseItemLists(body: string, lineOffset: number): NormalisedLists {
  const eol = body.includes('\r\n') ? '\r\n' : '\n';
  const lines = body.split(/\r?\n/);
  const notes: DigestNote[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = expand(lines[i]!);
    const fence = line.indent <= 3 ? FENCE.exec(line.rest) : null;
    if (fence) {
      i = skipFence(lines, i, fence[1]!);
      continue;
    }
    if (line.indent <= 3 && MARKER.test(line.rest)) {
      i = normaliseRun(lines, i, lineOffset, notes);
      continue;
    }
    i++;
  }
  return { text: lines.join(eol), notes };
}

/** Index of the line after a top-level fenced block opened at `start`. */
function skipFence(lines: string[], start: number, opener: string): number {
  const close = new RegExp(`^${opener[0] === '`' ? '`' : '~'}{${opener.length},}\\s*$`);
  for (let j = start + 1; j < lines.length; j++) {
    const line = expand(lines[j]!);
    if (line.indent <= 3 && close.test(line.rest)) return j + 1;
  }
  return lines.length;
}

interface RunItem {
  line: number;
  number: string;
  delimiter: string;
  content: string;
  /** Continuation lines: index, and whether the line is lazy (kept exactly as written). */
  body: { index: number; lazy: boolean }[];
  /** Column the item's content started at, as written. */
  contentColumn: number;
}

/** Rewrites one run of numbered items in place; returns the index of the first line after it. */
function normaliseRun(lines: string[], start: number, lineOffset: number, notes: DigestNote[]): number {
  const items: RunItem[] = [];
  let current: RunItem | undefined;
  let previousBlank = false;
  /** Whether the previous non-blank line was paragraph text (so a column-0 line may continue it). */
  let previousText = false;
  let openFence: RegExp | undefined;
  let j = start;
  for (; j < lines.length; j++) {
    const line = expand(lines[j]!);
    if (line.blank) {
      previousBlank = true;
      continue;
    }
    if (openFence) {
      // Inside a fenced block of an item: its lines belong to the item while indented at all.
      if (line.indent === 0) break;
      current!.body.push({ index: j, lazy: false });
      if (openFence.test(line.rest)) openFence = undefined;
      previousBlank = false;
      continue;
    }
    const marker = line.indent <= 3 ? MARKER.exec(line.rest) : null;
    if (marker && (current === undefined || line.indent < itemBase(current, lines))) {
      current = {
        line: j,
        number: marker[1]!,
        delimiter: marker[2]!,
        content: marker[4] ?? '',
        body: [],
        contentColumn: line.indent + marker[1]!.length + 1 + (marker[3]?.length ?? 0),
      };
      items.push(current);
      previousBlank = false;
      previousText = true;
      continue;
    }
    if (line.indent === 0) {
      if (!previousBlank && previousText && !BLOCK_START.test(line.rest) && !MARKER.test(line.rest)) {
        current!.body.push({ index: j, lazy: true });
        continue;
      }
      break;
    }
    current!.body.push({ index: j, lazy: false });
    const fence = FENCE.exec(line.rest);
    if (fence) {
      openFence = new RegExp(`^${fence[1]![0] === '`' ? '`' : '~'}{${fence[1]!.length},}\\s*$`);
      previousText = false;
    } else {
      previousText = !BLOCK_START.test(line.rest) || /^(?:[-*+]\s|>)/.test(line.rest);
    }
    previousBlank = false;
  }

  const runBase = Math.min(
    ...items.filter((item) => item.body.some((b) => !b.lazy)).map((item) => itemBase(item, lines)),
  );
  const column = Math.max(...items.map((item) => item.number.length + 1)) + 1;
  const delimiter = items[0]!.delimiter;
  let expected = Number(items[0]!.number);
  for (const [position, item] of items.entries()) {
    const fileLine = item.line + lineOffset + 1;
    if (position > 0) {
      expected++;
      if (Number(item.number) !== expected) {
        notes.push({
          line: fileLine,
          code: 'items.numbering',
          message: `item numbered ${item.number} where ${expected} was expected; every item is kept, in the order written`,
        });
        expected = Number(item.number);
      }
      if (item.delimiter !== delimiter) {
        notes.push({
          line: fileLine,
          code: 'items.marker',
          message: `"${item.number}${item.delimiter}" after items marked "${delimiter}"; read as the same list`,
        });
      }
    }
    const marker = `${item.number}${delimiter}`;
    lines[item.line] = item.content === '' ? marker : `${marker.padEnd(column)}${item.content}`;
    // An item whose every line sits four or more columns deeper than the least-indented summary of the
    // run starts with a code block, as CommonMark would read it; it is shifted with the run.
    const own = itemBase(item, lines);
    const base = own >= runBase + 4 ? runBase : own;
    for (const { index, lazy } of item.body) {
      if (lazy) continue;
      const line = expand(lines[index]!);
      lines[index] = `${' '.repeat(column + line.indent - base)}${line.rest}`;
    }
  }
  return j;
}

/** The indent of an item's least-indented own line (its summary), or its content column when it has none. */
function itemBase(item: RunItem, lines: string[]): number {
  let base = Number.POSITIVE_INFINITY;
  for (const { index, lazy } of item.body) {
    if (!lazy) base = Math.min(base, expand(lines[index]!).indent);
  }
  return Number.isFinite(base) ? base : item.contentColumn;
}

/** Leading whitespace measured with tabs to the next multiple of four, as CommonMark does. */
function expand(text: string): ExpandedLine {
  let indent = 0;
  let k = 0;
  for (; k < text.length; k++) {
    const ch = text[k];
    if (ch === ' ') indent++;
    else if (ch === '\t') indent += 4 - (indent % 4);
    else break;
  }
  const rest = text.slice(k).replace(/^(\d{1,9}[.)])\t/, '$1 ');
  return { indent, rest, blank: rest.trim() === '' };
}
