import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.loader.ts';
import type { Digest } from '../digest/digest.types.ts';
import { wrapFlowed } from './flowed.text.ts';
import { type MailStrings, stringsFor } from './mail.strings.ts';
import { compileMjml } from './mjml.compiler.ts';

export { fillSlots } from './template.engine.ts';

import { type IssueTemplate, SLOT_NAMES, type SlotName, type SlottedText } from './render.types.ts';
import { escapeHtml, fillSlots, fillTemplate } from './template.engine.ts';

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
  });
  const html = splitSlots(await compileMjml(mjml, 'digest'), marks);
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
    text,
    textFlowed: true,
    greeting: { ...strings.greeting },
    htmlBytes: typicalBytes(html),
    compiledAt: new Date().toISOString(),
  };
}

export type SlotMarks = Record<SlotName, string>;

/** Letters and digits only, so a mark survives MJML, attribute escaping and URLs unchanged. */
export function slotMarks(): SlotMarks {
  const nonce = randomBytes(9).toString('hex');
  return Object.fromEntries(SLOT_NAMES.map((name) => [name, `DMSLOT${nonce}${name}X`])) as SlotMarks;
}

export function splitSlots(text: string, marks: SlotMarks): SlottedText {
  const byMark = new Map(Object.entries(marks).map(([name, mark]) => [mark, name as SlotName]));
  const pattern = new RegExp(Object.values(marks).join('|'), 'g');
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
    fillSlots(html, { greeting: 'Hi Alexandra,', webUrl: url, preferencesUrl: url, unsubscribeUrl: url }),
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
