import { randomBytes } from 'node:crypto';
import { escapeHtml } from '../core/html.text.ts';
import type { Config } from '../config/config.loader.ts';
import type { Digest } from '../digest/digest.types.ts';
import { wrapFlowed } from './flowed.text.ts';
import { type MailStrings, stringsFor } from './mail.strings.ts';
import { compileMjml } from './mjml.compiler.ts';

export { fillSlots } from './template.engine.ts';

import {
  type IssueLink,
  type IssueTemplate,
  SLOT_NAMES,
  type SlotName,
  type SlottedText,
} from './render.types.ts';
import { fillSlots, fillTemplate } from './template.engine.ts';

export interface CompileOptions {
  config: Config;
  list: { slug: string; name: string };
}

/**
 * Renders a digest into an IssueTemplate: MJML is compiled once per issue; what differs per reader
 * is left as marked holes. The marks carry a random nonce, so no text in a digest can forge one.
 */
export async function compileIssue(digest: Digest, options: CompileOptions): Promise<IssueTemplate> {
  const { config, list } = options;
  const strings = stringsFor(digest.lang);
  const marks = slotMarks();

  const itemsHtml = digest.items
    .map((item, index) =>
      fillTemplate('partials/item', {
        separator: index > 0,
        number: String(index + 1).padStart(2, '0'),
        sourceDomain: item.sourceDomain,
        url: item.url,
        headlineHtml: item.headlineHtml,
        summaryHtml: item.summaryHtml,
      }),
    )
    .join('\n');

  const mjml = fillTemplate('digest', {
    lang: digest.lang,
    dir: digest.dir,
    title: digest.title,
    preheader: digest.preheader,
    listName: list.name,
    dayLabel: strings.formatDay(digest.day),
    categoriesHtml: categoryChips(digest.categories),
    greeting: marks.greeting,
    introHtml: digest.intro.html,
    itemCount: digest.items.length,
    itemsHeading: strings.itemsHeading(digest.items.length),
    itemsHtml,
    commentaryHeading: strings.commentaryHeading,
    commentaryHtml: digest.commentary.html,
    orgName: config.ORG_NAME,
    postalAddress: config.POSTAL_ADDRESS,
    viewInBrowser: strings.viewInBrowser,
    preferences: strings.preferences,
    unsubscribe: strings.unsubscribe,
    receivingBecause: strings.receivingBecause(list.name),
    webUrl: marks.webUrl,
    preferencesUrl: marks.preferencesUrl,
    unsubscribeUrl: marks.unsubscribeUrl,
    clickNotice: marks.clickNotice,
  });
  const compiled = await compileMjml(mjml, 'digest');
  const { html: trackedHtml, links } = trackLinks(compiled, digest, marks.clickBase);
  const notice = `<p style="margin:0 0 10px 0;">${escapeHtml(strings.clicksCounted)} <a href="${marks.preferencesUrl}" class="dm-footer-link" style="color:#4b5563;text-decoration:underline;">${escapeHtml(strings.clicksOff)}</a></p>`;
  const html = splitSlots(compiled.replace(marks.clickNotice, ''), marks);
  const tracked = splitSlots(trackedHtml.replace(marks.clickNotice, notice), marks);
  // Wrapped once here, at 78 columns (format=flowed); the URL slots become long links, so they are
  // placed at the start of a line, where they may run past 78 unbroken.
  const urlMarks = new RegExp([marks.webUrl, marks.preferencesUrl, marks.unsubscribeUrl].join('|'));
  const text = splitSlots(
    wrapFlowed(digestText(digest, strings, list.name, config, marks), { wide: urlMarks }),
    marks,
  );

  return {
    version: 1,
    subject: digest.subject,
    preheader: digest.preheader,
    lang: digest.lang,
    dir: digest.dir,
    title: digest.title,
    day: digest.day,
    digestHash: digest.hash,
    list: { slug: list.slug, name: list.name },
    html,
    tracked,
    links,
    text,
    textFlowed: true,
    greeting: { ...strings.greeting },
    htmlBytes: typicalBytes(html),
    compiledAt: new Date().toISOString(),
  };
}

export type SlotMarks = Record<SlotName, string> & { clickNotice: string };

/** Letters and digits only, so a mark survives MJML, attribute escaping and URLs unchanged. */
export function slotMarks(): SlotMarks {
  const nonce = randomBytes(9).toString('hex');
  return {
    ...(Object.fromEntries(SLOT_NAMES.map((name) => [name, `DMSLOT${nonce}${name}X`])) as Record<
      SlotName,
      string
    >),
    // Not a slot: replaced once at compile time (empty, or the click notice in the tracked HTML).
    clickNotice: `DMNOTE${nonce}X`,
  };
}

export function splitSlots(text: string, marks: SlotMarks): SlottedText {
  const slotMarksOnly = SLOT_NAMES.map((name) => marks[name]);
  const byMark = new Map(SLOT_NAMES.map((name) => [marks[name], name]));
  const pattern = new RegExp(slotMarksOnly.join('|'), 'g');
  const parts: string[] = [];
  const slots: SlotName[] = [];
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    parts.push(text.slice(last, m.index));
    slots.push(byMark.get(m[0])!);
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return { parts, slots };
}

function typicalBytes(html: SlottedText): number {
  const url = `https://news.example.org/unsubscribe/${'x'.repeat(120)}`;
  return Buffer.byteLength(
    fillSlots(html, {
      greeting: 'Hi Alexandra,',
      webUrl: url,
      preferencesUrl: url,
      unsubscribeUrl: url,
      clickBase: url,
    }),
  );
}

function categoryChips(categories: string[]): string {
  return categories
    .map(
      (c) =>
        `<span class="dm-chip" style="display:inline-block;font-size:12px;line-height:1;padding:5px 10px;margin:0 6px 8px 0;border-radius:999px;background-color:#fff1e8;color:#9a3412;">${escapeHtml(c)}</span>`,
    )
    .join('');
}

const ANCHOR = /<a\b([^>]*?)\shref="(https?:\/\/[^"]+)"([^>]*)>([\s\S]*?)<\/a>/gi;
const ENTITIES: Record<string, string> = {
  '&amp;': '&',
  '&quot;': '"',
  '&#39;': "'",
  '&lt;': '<',
  '&gt;': '>',
};

/**
 * The HTML for counted clicks: every http(s) link of the compiled digest (the footer's own links are
 * slot marks, not URLs, so they stay as they are) points at `clickBase/<position>` instead, where
 * positions number the distinct URLs in the order they first appear. Done on the compiled HTML so
 * the one MJML compile serves both versions.
 */
function trackLinks(html: string, digest: Digest, clickBase: string): { html: string; links: IssueLink[] } {
  const headlines = new Map(digest.items.filter((i) => i.url).map((i) => [i.url!, i.headline]));
  const positions = new Map<string, number>();
  const links: IssueLink[] = [];
  const tracked = html.replace(
    ANCHOR,
    (_whole, before: string, href: string, after: string, inner: string) => {
      const url = href.replace(/&(amp|quot|#39|lt|gt);/g, (e) => ENTITIES[e]!);
      let position = positions.get(url);
      if (position === undefined) {
        position = links.length + 1;
        positions.set(url, position);
        const text = inner
          .replace(/<[^>]*>/g, '')
          .replace(/&(amp|quot|#39|lt|gt);/g, (e) => ENTITIES[e]!)
          .trim();
        let domain = '';
        try {
          domain = new URL(url).hostname.replace(/^www\./, '');
        } catch {
          // an href the digest parser let through is a valid URL; keep an empty domain otherwise
        }
        links.push({ position, url, title: (headlines.get(url) ?? text).slice(0, 300) || domain, domain });
      }
      return `<a${before} href="${clickBase}/${position}"${after}>${inner}</a>`;
    },
  );
  return { html: tracked, links };
}

/** The text/plain part: the same digest, with every URL written out in full. */
function digestText(
  digest: Digest,
  strings: MailStrings,
  listName: string,
  config: Config,
  marks: SlotMarks,
): string {
  const out: string[] = [];
  out.push(digest.title, `${listName}${strings.separator}${strings.formatDay(digest.day)}`, '');
  out.push(marks.greeting, '');
  if (digest.intro.text) out.push(digest.intro.text, '');
  if (digest.items.length > 0) {
    out.push(strings.itemsHeading(digest.items.length), '');
    digest.items.forEach((item, index) => {
      const number = `${index + 1}. `;
      const pad = ' '.repeat(number.length);
      out.push(`${number}${item.headline}`);
      if (item.url) out.push(`${pad}${item.url}`);
      if (item.summaryText) {
        out.push('');
        for (const line of item.summaryText.split('\n')) out.push(line ? `${pad}${line}` : '');
      }
      out.push('');
    });
  }
  if (digest.commentary.text) out.push(strings.commentaryHeading, '', digest.commentary.text, '');
  out.push('--');
  out.push(`${strings.viewInBrowser}: ${marks.webUrl}`);
  out.push(`${strings.preferences}: ${marks.preferencesUrl}`);
  out.push(`${strings.unsubscribe}: ${marks.unsubscribeUrl}`);
  out.push('', strings.receivingBecause(listName), config.ORG_NAME);
  if (config.POSTAL_ADDRESS) out.push(config.POSTAL_ADDRESS);
  return `${out.join('\n')}\n`;
}
