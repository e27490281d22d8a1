import { createHash } from 'node:crypto';
import { escapeHtml } from '../core/html.text.ts';
import { readFile } from 'node:fs/promises';
import type Token from 'markdown-it/lib/token.mjs';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { type AppError, invalid, notFound } from '../core/errors.ts';
import {
  blocksText,
  inlineText,
  isDroppedLink,
  parseMarkdown,
  type RenderEnv,
  renderHtml,
  renderInlineHtml,
} from './digest.markdown.ts';
import { normaliseItemLists } from './digest.lists.ts';
import type { Digest, DigestImage, DigestItem, DigestLink, DigestNote, DigestProse } from './digest.types.ts';
import { detectLanguage, normaliseLang, textDirection } from './language.ts';
import { parseDigestDate } from './digest.date.ts';

export interface ParseOptions {
  /**
   * Zone for a `date` or `send_at` written without an offset (`2025-11-10` or `2025-11-10T07:00`);
   * default: the process's zone (the TZ setting). A date with an offset always keeps its own.
   */
  timeZone?: string;
}

const FRONT_MATTER = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/;
const KNOWN_KEYS = new Set([
  'title',
  'date',
  'categories',
  'subject',
  'preheader',
  'lang',
  'lists',
  'send_at',
  'draft',
]);

/**
 * Reads a digest file. A missing file is `digest.not_found`; anything wrong inside it is
 * `digest.invalid` with a message naming the file, the line and the field.
 */
export async function loadDigest(path: string, options: ParseOptions = {}): Promise<Digest> {
  let source: string;
  try {
    source = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound('digest.not_found', `${path}: no such digest file`);
    if (code === 'EISDIR') throw invalid('digest.invalid', `${path}: is a directory, not a digest file`);
    throw invalid('digest.invalid', `${path}: cannot read (${(error as Error).message})`);
  }
  return parseDigest(source, path, options);
}

/** Parses a digest's text; `fileName` is used only in messages. */
export function parseDigest(source: string, fileName: string, options: ParseOptions = {}): Digest {
  const fail = (line: number, field: string, reason: string): AppError =>
    invalid('digest.invalid', `${fileName}:${line}: ${field}: ${reason}`);

  const match = FRONT_MATTER.exec(source);
  if (!match) {
    throw fail(
      1,
      'front matter',
      'missing (a digest starts with a "---" line, then YAML with title and date, then "---")',
    );
  }
  const yamlText = match[1] ?? '';
  // Line numbers inside the YAML are 1-based from the line after the opening "---".
  const yamlLine = (line: number) => line + 1;
  const lineCounter = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const error = doc.errors[0]!;
    const line = yamlLine(lineCounter.linePos(error.pos[0]).line);
    throw fail(
      line,
      'front matter',
      `invalid YAML (${error.message.split('\n')[0]!.replace(/ at line.*$/, '')})`,
    );
  }
  if (!isMap(doc.contents)) {
    throw fail(2, 'front matter', 'expected "key: value" lines such as "title: …" and "date: …"');
  }
  const map = doc.contents;
  const lineOf = (key: string): number => {
    const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
    const range =
      (pair?.value as { range?: [number, number, number] } | null)?.range ??
      (pair?.key as { range?: [number, number, number] } | null)?.range;
    return range ? yamlLine(lineCounter.linePos(range[0]).line) : 1;
  };
  const values = doc.toJS() as Record<string, unknown>;

  const text = (key: string, required: boolean): string | undefined => {
    const value = values[key];
    if (value === undefined || value === null || value === '') {
      if (required) throw fail(key in values ? lineOf(key) : 1, key, 'missing from the front matter');
      return undefined;
    }
    if (typeof value === 'string') return value.trim();
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw fail(lineOf(key), key, 'expected text');
  };
  const textList = (key: string): string[] | undefined => {
    const value = values[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') {
      return value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
    }
    if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) {
      return value.map((v) => String(v).trim()).filter(Boolean);
    }
    throw fail(lineOf(key), key, 'expected a list such as ["a", "b"]');
  };

  const title = text('title', true)!;
  const dateRaw = text('date', true)!;
  // The process zone follows the TZ variable, which is also the TZ setting.
  const timeZone = options.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
  const date = parseDigestDate(dateRaw, timeZone);
  if (!date) {
    throw fail(
      lineOf('date'),
      'date',
      `"${dateRaw}" is not a date (expected e.g. 2025-11-10 or 2025-11-10T07:00:00+08:00)`,
    );
  }
  let sendAt: Date | undefined;
  const sendAtRaw = text('send_at', false);
  if (sendAtRaw !== undefined) {
    const parsed = parseDigestDate(sendAtRaw, timeZone);
    if (!parsed) {
      throw fail(lineOf('send_at'), 'send_at', `"${sendAtRaw}" is not a date and time`);
    }
    sendAt = parsed.instant;
  }
  let draft = false;
  if (values.draft !== undefined && values.draft !== null) {
    if (typeof values.draft !== 'boolean') throw fail(lineOf('draft'), 'draft', 'expected true or false');
    draft = values.draft;
  }
  let lang: string | undefined;
  const langRaw = text('lang', false);
  if (langRaw !== undefined) {
    lang = normaliseLang(langRaw);
    if (!lang) throw fail(lineOf('lang'), 'lang', `"${langRaw}" is not a language tag such as en or zh-CN`);
  }
  const lists = textList('lists');
  if (lists) {
    for (const slug of lists) {
      if (!/^[a-z0-9][a-z0-9-]*$/.test(slug)) {
        throw fail(lineOf('lists'), 'lists', `"${slug}" is not a list slug (lower-case letters, digits, -)`);
      }
    }
  }
  const categories = textList('categories') ?? [];

  const notes: DigestNote[] = [];
  for (const key of Object.keys(values)) {
    if (!KNOWN_KEYS.has(key)) {
      notes.push({
        line: lineOf(key),
        code: 'front_matter.unknown_field',
        message: `${key}: unknown front matter field, ignored`,
      });
    }
  }

  const bodyFirstLine = match[0].split('\n').length - (match[0].endsWith('\n') ? 1 : 0);
  // Long numbered lists are made readable to CommonMark first (see digest.lists.ts); only leading
  // spaces change, so every line keeps its number.
  const normalised = normaliseItemLists(source.slice(match[0].length), bodyFirstLine);
  notes.push(...normalised.notes);
  const links: DigestLink[] = [];
  const images: DigestImage[] = [];
  const env: RenderEnv = { notes, links, images, lineOffset: bodyFirstLine, fileName };
  const parts = splitBody(parseMarkdown(normalised.text, env), env);
  notes.sort((a, b) => a.line - b.line);

  const detected = detectLanguage(
    [
      title,
      parts.intro.text,
      ...parts.items.map((i) => `${i.headline} ${i.summaryText}`),
      parts.commentary.text,
    ].join('\n'),
  );
  const finalLang = lang ?? detected;

  return {
    fileName,
    title,
    date: date.instant,
    dateText: dateRaw,
    offset: date.offset,
    offsetMinutes: date.offsetMinutes,
    day: date.day,
    categories,
    subject: text('subject', false) ?? title,
    preheader: text('preheader', false) ?? defaultPreheader(parts.intro.text, parts.items),
    lang: finalLang,
    langSource: lang ? 'front-matter' : 'detected',
    dir: textDirection(finalLang),
    ...(lists ? { lists } : {}),
    ...(sendAt ? { sendAt } : {}),
    draft,
    intro: parts.intro,
    items: parts.items,
    commentary: parts.commentary,
    warnings: notes.map((note) => `${fileName}:${note.line}: ${note.message}`),
    notes,
    links,
    images,
    dateLine: lineOf('date'),
    source,
    hash: createHash('sha256').update(source).digest('hex'),
  };
}

/** Top-level block groups: each is one block (paragraph, list, rule, …) with all its inner tokens. */
function topLevelBlocks(tokens: Token[]): Token[][] {
  const blocks: Token[][] = [];
  let current: Token[] = [];
  let depth = 0;
  for (const token of tokens) {
    current.push(token);
    depth += token.nesting;
    if (depth === 0) {
      blocks.push(current);
      current = [];
    }
  }
  if (current.length > 0) blocks.push(current);
  return blocks;
}

/**
 * The first top-level list most of whose items start with a link is the list of news items; what
 * comes before it is the intro and what comes after is the commentary. A rule right before or right
 * after the list is the editor's separator and is not repeated; everything else is kept.
 */
function splitBody(
  tokens: Token[],
  env: RenderEnv,
): { intro: DigestProse; items: DigestItem[]; commentary: DigestProse } {
  const blocks = topLevelBlocks(tokens);
  const listIndex = blocks.findIndex(isItemList);
  if (listIndex < 0) {
    return { intro: prose(tokens, env), items: [], commentary: { html: '', text: '' } };
  }
  let before = blocks.slice(0, listIndex);
  let after = blocks.slice(listIndex + 1);
  if (before.length > 0 && before[before.length - 1]![0]!.type === 'hr') before = before.slice(0, -1);
  if (after.length > 0 && after[0]![0]!.type === 'hr') after = after.slice(1);
  const items = listItems(blocks[listIndex]!).map((item) => toItem(item, env));
  noteMovedText(blocks[listIndex]!, blocks.slice(listIndex + 1), items, env);
  return {
    intro: prose(before.flat(), env),
    items,
    commentary: prose(after.flat(), env),
  };
}

const LOOKS_LIKE_ITEMS = /^\s*\d{1,9}[.)]\s|\]\((?:https?:|mailto:)/m;

/**
 * Notes for what an editor most likely meant as part of the items but that is shown elsewhere or
 * differently: a heading or a code block inside an item, and after the list a second list that looks
 * like more items (with the heading that split it off, if any) or a code block that holds items.
 */
function noteMovedText(list: Token[], following: Token[][], items: DigestItem[], env: RenderEnv): void {
  const lineOf = (token: Token) => (token.map?.[0] ?? 0) + env.lineOffset + 1;
  let itemNumber = 0;
  let depth = 0;
  for (const token of list) {
    if (token.type === 'list_item_open' && depth === 1) itemNumber++;
    depth += token.nesting;
    if (token.type === 'heading_open') {
      env.notes.push({
        line: lineOf(token),
        code: 'items.heading',
        message: `heading inside item ${itemNumber} is shown as part of that item's summary`,
      });
    } else if (token.type === 'code_block') {
      env.notes.push({
        line: lineOf(token),
        code: 'items.code_block',
        message: `text in item ${itemNumber} is indented four or more spaces deeper than its summary and is shown as a code block (indent it like the summary; fence real code with \`\`\`)`,
      });
    }
  }
  let heading: Token | undefined;
  for (const block of following) {
    const open = block[0]!;
    if (open.type === 'heading_open') {
      heading = open;
      continue;
    }
    const ordered = open.type === 'ordered_list_open';
    const continues = ordered && Number(open.attrGet('start') ?? 1) === items.length + 1;
    if ((ordered || open.type === 'bullet_list_open') && (isItemList(block) || continues)) {
      const count = listItems(block).length;
      const split = heading ? ` (the heading on line ${lineOf(heading)} ends the list of items)` : '';
      env.notes.push({
        line: lineOf(open),
        code: 'items.second_list',
        message: `a second list of ${count} item${count === 1 ? '' : 's'} that looks like more news is not part of the ${items.length} items and is shown in the commentary${split}`,
      });
    } else if (open.type === 'code_block' && LOOKS_LIKE_ITEMS.test(open.content)) {
      env.notes.push({
        line: lineOf(open),
        code: 'items.code_block',
        message: 'indented text after the items looks like more items but is shown as a code block',
      });
    }
    heading = undefined;
  }
}

function prose(tokens: Token[], env: RenderEnv): DigestProse {
  if (tokens.length === 0) return { html: '', text: '' };
  return { html: renderHtml(tokens, env), text: blocksText(tokens) };
}

function isItemList(block: Token[]): boolean {
  const open = block[0]!;
  if (open.type !== 'ordered_list_open' && open.type !== 'bullet_list_open') return false;
  const items = listItems(block);
  const linked = items.filter((item) => headlineLink(item) !== undefined).length;
  return linked > 0 && linked * 2 >= items.length;
}

/** The tokens of each direct item of a list block, without the item's own open/close tokens. */
function listItems(block: Token[]): Token[][] {
  const items: Token[][] = [];
  let depth = 0;
  let current: Token[] | null = null;
  for (const token of block.slice(1, -1)) {
    if (depth === 0 && token.type === 'list_item_open') {
      current = [token];
    } else if (current) {
      current.push(token);
    }
    depth += token.nesting;
    if (depth === 0 && token.type === 'list_item_close' && current) {
      items.push(current);
      current = null;
    }
  }
  return items;
}

/** When the item's first paragraph starts with a link, the index of that link's close in its inline. */
function headlineLink(item: Token[]): number | undefined {
  if (item[1]?.type !== 'paragraph_open' || item[2]?.type !== 'inline') return undefined;
  const children = item[2].children ?? [];
  if (children[0]?.type !== 'link_open') return undefined;
  const close = children.findIndex((t) => t.type === 'link_close');
  if (close < 0) return undefined;
  // The link must be the headline itself, not the start of a sentence: after it comes nothing, a line
  // break (a tight list's summary), or a short source note such as " — Reuters".
  const rest = children.slice(close + 1);
  const firstBreak = rest.findIndex((t) => t.type === 'softbreak' || t.type === 'hardbreak');
  const sameLine = firstBreak < 0 ? rest : rest.slice(0, firstBreak);
  const trailing = inlineText(sameLine, { links: false }).trim();
  return trailing.length <= 40 ? close : undefined;
}

function toItem(item: Token[], env: RenderEnv): DigestItem {
  const line = (item[0]!.map?.[0] ?? 0) + env.lineOffset + 1;
  const linkClose = headlineLink(item);
  const first = item[2]?.type === 'inline' ? item[2] : undefined;
  const children = first?.children ?? [];

  let headlineTokens: Token[];
  let restInline: Token[] = [];
  let url: string | undefined;
  if (linkClose !== undefined) {
    url = isDroppedLink(children[0]!) ? undefined : (children[0]!.attrGet('href') ?? undefined);
    headlineTokens = children.slice(1, linkClose);
    restInline = children.slice(linkClose + 1);
  } else {
    // An item without a link: its first line is the headline.
    const firstBreak = children.findIndex((t) => t.type === 'softbreak' || t.type === 'hardbreak');
    headlineTokens = firstBreak < 0 ? children : children.slice(0, firstBreak);
    restInline = firstBreak < 0 ? [] : children.slice(firstBreak);
  }
  while (restInline[0] && (restInline[0].type === 'softbreak' || restInline[0].type === 'hardbreak')) {
    restInline = restInline.slice(1);
  }

  // Blocks after the first paragraph (or every block, when the item does not start with a paragraph).
  const startsWithParagraph = item[1]?.type === 'paragraph_open' && first !== undefined;
  const restBlocks = item.slice(startsWithParagraph ? 4 : 1, -1);
  for (const token of restBlocks) {
    if (token.type === 'paragraph_open' || token.type === 'paragraph_close') token.hidden = false;
  }

  const restInlineText = inlineText(restInline).trim();
  const summaryHtmlParts: string[] = [];
  const summaryTextParts: string[] = [];
  if (restInlineText !== '') {
    summaryHtmlParts.push(
      `<p dir="auto" style="margin:0 0 14px 0;">${renderInlineHtml(restInline, env)}</p>`,
    );
    summaryTextParts.push(restInlineText);
  }
  if (restBlocks.length > 0) {
    summaryHtmlParts.push(renderHtml(restBlocks, env));
    summaryTextParts.push(blocksText(restBlocks));
  }

  let headline = inlineText(headlineTokens, { links: false }).replace(/\s+/g, ' ').trim();
  let headlineHtml = renderInlineHtml(stripLinks(headlineTokens), env);
  if (headline === '') {
    headline = url ?? `(item on line ${line})`;
    headlineHtml = escapeHtml(headline);
  }
  const result: DigestItem = {
    headline,
    headlineHtml,
    summaryHtml: summaryHtmlParts.join('\n'),
    summaryText: summaryTextParts.join('\n\n'),
    line,
  };
  if (url) {
    result.url = url;
    const domain = sourceDomain(url);
    if (domain) result.sourceDomain = domain;
  }
  return result;
}

/** The headline is itself a link in the template, and links cannot nest. */
function stripLinks(tokens: Token[]): Token[] {
  return tokens.filter((t) => t.type !== 'link_open' && t.type !== 'link_close');
}

function sourceDomain(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol === 'mailto:') return undefined;
    return u.hostname.replace(/^www\./, '');
  } catch {
    return undefined;
  }
}

function defaultPreheader(introText: string, items: DigestItem[]): string {
  const source = introText.replace(/\s+/g, ' ').trim() || items.map((i) => i.headline).join(' · ');
  const chars = Array.from(source);
  return chars.length > 110 ? `${chars.slice(0, 109).join('')}…` : source;
}
