import MarkdownIt from 'markdown-it';
import { escapeHtml } from '../core/html.text.ts';
import cjkFriendly from 'markdown-it-cjk-friendly';
import type Token from 'markdown-it/lib/token.mjs';
import type { DigestImage, DigestLink, DigestNote } from './digest.types.ts';

/**
 * Markdown → mail-safe HTML and plain text.
 *
 * Safety is structural, not a filter on the output: raw HTML is never parsed as HTML (`html: false`
 * makes markdown-it escape it as text), every attribute markdown-it writes is escaped, and a core rule
 * removes any link or image whose URL is not http(s) (or mailto for links) before rendering — the link
 * text stays, the link goes, and a warning names the line.
 *
 * Styles are written inline here because many mail clients drop `<style>` blocks; the class names
 * (`dm-…`) are only hooks for the dark-mode rules in the template head.
 *
 * Emphasis next to CJK punctuation (`**“动态推理”**后`) fails under plain CommonMark flanking rules;
 * markdown-it-cjk-friendly fixes exactly that.
 */

export const MONO_FONT = "SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace";

const STYLE = {
  paragraph: 'margin:0 0 14px 0;',
  heading: [
    '',
    'font-size:22px;line-height:1.35;margin:24px 0 12px 0;font-weight:700;',
    'font-size:19px;line-height:1.4;margin:22px 0 10px 0;font-weight:700;',
    'font-size:17px;line-height:1.4;margin:20px 0 8px 0;font-weight:700;',
    'font-size:16px;line-height:1.4;margin:18px 0 8px 0;font-weight:700;',
    'font-size:15px;line-height:1.4;margin:16px 0 8px 0;font-weight:700;',
    'font-size:15px;line-height:1.4;margin:16px 0 8px 0;font-weight:600;',
  ],
  link: 'color:#1a5fb4;text-decoration:underline;word-break:break-word;',
  codeInline:
    'font-family:' +
    MONO_FONT +
    ';font-size:0.9em;background-color:#f1f3f5;border-radius:4px;padding:1px 5px;word-break:break-word;',
  pre:
    'font-family:' +
    MONO_FONT +
    ';font-size:13px;line-height:1.5;background-color:#f1f3f5;border-radius:6px;padding:12px 14px;margin:0 0 14px 0;white-space:pre-wrap;word-break:break-word;overflow-x:auto;',
  blockquote: 'margin:0 0 14px 0;padding:2px 0 2px 14px;border-left:3px solid #d0d7de;color:#57606a;',
  list: 'margin:0 0 14px 0;padding:0 0 0 24px;',
  listItem: 'margin:0 0 6px 0;',
  table: 'border-collapse:collapse;margin:0 0 14px 0;font-size:14px;',
  cell: 'border:1px solid #d0d7de;padding:6px 10px;text-align:left;vertical-align:top;word-break:normal;',
  image: 'max-width:100%;height:auto;border:0;display:block;margin:0 0 14px 0;',
  hr: 'border:0;border-top:1px solid #d0d7de;margin:20px 0;',
} as const;

export interface RenderEnv {
  /** Notes collected while parsing (dropped links and images), each with its source line. */
  notes: DigestNote[];
  /** Every link kept, and every image kept, with its line (for the digest linter). */
  links?: DigestLink[];
  images?: DigestImage[];
  /** Added to a token's 0-based body line to give the 1-based line in the file. */
  lineOffset: number;
  fileName: string;
}

const md = new MarkdownIt({ html: false, linkify: true, typographer: false, breaks: false });
md.use(cjkFriendly);
// Every URL is judged by sanitizeLinks below, which drops the link but keeps its text; markdown-it's
// own check would instead print the whole `[text](url)` as literal text.
md.validateLink = () => true;

const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
const IMAGE_PROTOCOLS = new Set(['http:', 'https:']);

/** True when `href` is an absolute URL with one of the allowed protocols. */
export function isAllowedUrl(href: string, protocols: Set<string> = LINK_PROTOCOLS): boolean {
  try {
    return protocols.has(new URL(href).protocol);
  } catch {
    return false;
  }
}

md.core.ruler.push('digestmail_sanitize_links', (state) => {
  const env = state.env as RenderEnv;
  for (const block of state.tokens) {
    if (block.type !== 'inline' || !block.children) continue;
    // The exact line of each token: the block's first line plus the line breaks before it.
    let line = (block.map?.[0] ?? 0) + (env.lineOffset ?? 0) + 1;
    const kept: Token[] = [];
    const dropStack: boolean[] = [];
    // The text of a refused autolink (`<javascript:…>`) is the refused URL itself: not kept.
    let inRefusedAutolink = false;
    for (const token of block.children) {
      if (token.type === 'softbreak' || token.type === 'hardbreak') line++;
      if (inRefusedAutolink && token.type !== 'link_close') continue;
      if (token.type === 'link_open') {
        const href = token.attrGet('href') ?? '';
        const ok = isAllowedUrl(href);
        dropStack.push(!ok);
        if (ok) env.links?.push({ href, line });
        else {
          env.notes?.push({
            line,
            code: 'link.dropped',
            message: `link "${truncate(href, 60)}" dropped (only http, https and mailto links are kept)`,
          });
          // The pair stays in the stream, without its URL, so the shape of the text (an item whose
          // headline was a link) is still recognisable; the renderer writes nothing for it.
          dropLink(token);
          inRefusedAutolink = token.markup === 'autolink';
        }
      } else if (token.type === 'link_close') {
        inRefusedAutolink = false;
        if (dropStack.pop()) dropLink(token);
      } else if (token.type === 'image') {
        const src = token.attrGet('src') ?? '';
        if (!isAllowedUrl(src, IMAGE_PROTOCOLS)) {
          env.notes?.push({
            line,
            code: 'image.dropped',
            message: `image "${truncate(src, 60)}" dropped (only http and https images are kept)`,
          });
          const alt = token.content;
          if (alt) {
            const text = new state.Token('text', '', 0);
            text.content = alt;
            kept.push(text);
          }
          continue;
        }
        env.images?.push({ src, alt: token.content, line });
      }
      kept.push(token);
    }
    block.children = kept;
  }
});

md.core.ruler.push('digestmail_inline_styles', (state) => {
  const styleTokens = (tokens: Token[]) => {
    for (const token of tokens) {
      switch (token.type) {
        case 'paragraph_open':
          addStyle(token, STYLE.paragraph);
          token.attrSet('dir', 'auto');
          break;
        case 'heading_open':
          addStyle(token, STYLE.heading[Number(token.tag.slice(1))] ?? '');
          token.attrSet('dir', 'auto');
          break;
        case 'link_open':
          if (isDroppedLink(token)) break;
          // Titles are user text in an attribute: escaped, but mail needs none of it, so none is written.
          token.attrs = token.attrs?.filter(([k]) => k !== 'title') ?? null;
          addStyle(token, STYLE.link);
          token.attrSet('class', 'dm-link');
          token.attrSet('rel', 'noopener');
          break;
        case 'code_inline':
          addStyle(token, STYLE.codeInline);
          token.attrSet('class', 'dm-code');
          break;
        case 'blockquote_open':
          addStyle(token, STYLE.blockquote);
          token.attrSet('class', 'dm-quote');
          break;
        case 'bullet_list_open':
        case 'ordered_list_open':
          addStyle(token, STYLE.list);
          break;
        case 'list_item_open':
          addStyle(token, STYLE.listItem);
          token.attrSet('dir', 'auto');
          break;
        case 'table_open':
          addStyle(token, STYLE.table);
          break;
        case 'th_open':
        case 'td_open':
          addStyle(token, STYLE.cell);
          token.attrSet('class', 'dm-cell');
          break;
        case 'image':
          token.attrs = token.attrs?.filter(([k]) => k !== 'title') ?? null;
          addStyle(token, STYLE.image);
          break;
        case 'hr':
          addStyle(token, STYLE.hr);
          token.attrSet('class', 'dm-rule');
          break;
      }
      if (token.children) styleTokens(token.children);
    }
  };
  styleTokens(state.tokens);
});

function dropLink(token: Token): void {
  token.attrs = null;
  token.meta = { dropped: true };
}

/** A link whose URL was refused: its text is kept, the link is not. */
export function isDroppedLink(token: Token): boolean {
  return (token.meta as { dropped?: boolean } | null)?.dropped === true;
}

function addStyle(token: Token, style: string): void {
  const existing = token.attrGet('style');
  token.attrSet('style', existing ? `${style}${existing}` : style);
}

md.renderer.rules.fence = (tokens, idx) => {
  const token = tokens[idx]!;
  return `<pre class="dm-code" style="${STYLE.pre}"><code>${escapeHtml(token.content)}</code></pre>\n`;
};
md.renderer.rules.code_block = md.renderer.rules.fence;
md.renderer.rules.link_open = (tokens, idx, options, _env, self) =>
  isDroppedLink(tokens[idx]!) ? '' : self.renderToken(tokens, idx, options);
md.renderer.rules.link_close = (tokens, idx, options, _env, self) =>
  isDroppedLink(tokens[idx]!) ? '' : self.renderToken(tokens, idx, options);
// A wide table scrolls inside its own box instead of widening the whole message on a phone.
md.renderer.rules.table_open = (tokens, idx, options, _env, self) =>
  `<div style="overflow-x:auto;max-width:100%;">${self.renderToken(tokens, idx, options)}`;
md.renderer.rules.table_close = (tokens, idx, options, _env, self) =>
  `${self.renderToken(tokens, idx, options)}</div>\n`;

export function parseMarkdown(body: string, env: RenderEnv): Token[] {
  return md.parse(body, env);
}

export function renderHtml(tokens: Token[], env: RenderEnv): string {
  return md.renderer.render(tokens, md.options, env).trim();
}

export function renderInlineHtml(tokens: Token[], env: RenderEnv): string {
  return md.renderer.renderInline(tokens, md.options, env).trim();
}

/** Plain text of inline tokens: links become `text <url>` so the text part keeps every URL. */
export function inlineText(tokens: Token[], options: { links?: boolean } = {}): string {
  const showLinks = options.links ?? true;
  let out = '';
  const hrefs: string[] = [];
  let linkStart = 0;
  for (const token of tokens) {
    switch (token.type) {
      case 'text':
      case 'code_inline':
      case 'html_inline':
        out += token.content;
        break;
      case 'softbreak':
      case 'hardbreak':
        out += '\n';
        break;
      case 'image':
        out += `[${token.content || 'image'}]`;
        if (showLinks) out += ` <${token.attrGet('src')}>`;
        break;
      case 'link_open':
        hrefs.push(isDroppedLink(token) ? '' : (token.attrGet('href') ?? ''));
        linkStart = out.length;
        break;
      case 'link_close': {
        const href = hrefs.pop() ?? '';
        const shown = out.slice(linkStart);
        const bare = href.replace(/^mailto:/, '');
        if (showLinks && href && shown !== href && shown !== bare) out += ` <${href}>`;
        break;
      }
      default:
        if (token.children) out += inlineText(token.children, options);
    }
  }
  return out;
}

/** Plain text of a run of block tokens, with list numbers, quote marks and indented code. */
export function blocksText(tokens: Token[]): string {
  const lines: string[] = [];
  const lists: { ordered: boolean; next: number }[] = [];
  let quoteDepth = 0;
  let pendingMarker: string | null = null;
  let row: string[] | null = null;

  const indent = () => '   '.repeat(Math.max(0, lists.length - 1));
  const push = (text: string) => {
    const quote = '> '.repeat(quoteDepth);
    const textLines = text.split('\n');
    textLines.forEach((l, i) => {
      let prefix = indent();
      if (i === 0 && pendingMarker !== null) {
        prefix = indent() + pendingMarker;
        pendingMarker = null;
      } else if (lists.length > 0) {
        prefix += '   ';
      }
      lines.push(`${quote}${prefix}${l}`.trimEnd());
    });
  };
  const blank = () => {
    if (lines.length > 0 && lines[lines.length - 1] !== '') lines.push('');
  };

  for (const token of tokens) {
    switch (token.type) {
      case 'heading_open':
      case 'paragraph_open':
        break;
      case 'inline':
        if (row) row.push(inlineText(token.children ?? []).replace(/\n/g, ' '));
        else push(inlineText(token.children ?? []));
        break;
      case 'heading_close':
        blank();
        break;
      case 'paragraph_close':
        if (!token.hidden) blank();
        break;
      case 'bullet_list_open':
      case 'ordered_list_open':
        lists.push({
          ordered: token.type === 'ordered_list_open',
          next: Number(token.attrGet('start') ?? 1),
        });
        break;
      case 'bullet_list_close':
      case 'ordered_list_close':
        lists.pop();
        if (lists.length === 0) blank();
        break;
      case 'list_item_open': {
        const list = lists[lists.length - 1];
        if (list) {
          pendingMarker = list.ordered ? `${list.next++}. ` : '- ';
        }
        break;
      }
      case 'blockquote_open':
        quoteDepth++;
        break;
      case 'blockquote_close':
        quoteDepth--;
        blank();
        break;
      case 'fence':
      case 'code_block':
        for (const l of token.content.replace(/\n$/, '').split('\n')) push(`    ${l}`);
        blank();
        break;
      case 'hr':
        push('----');
        blank();
        break;
      case 'tr_open':
        row = [];
        break;
      case 'tr_close':
        if (row) push(row.join(' | '));
        row = null;
        break;
      case 'table_close':
        blank();
        break;
    }
  }
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n');
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
