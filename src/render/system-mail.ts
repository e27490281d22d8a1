import type { Config } from '../config/config.loader.ts';
import { escapeHtml } from '../core/html.text.ts';
import { cleanName } from '../core/person-name.text.ts';
import { normaliseLang, textDirection } from '../digest/language.ts';
import { type MailStrings, stringsFor } from './mail.strings.ts';
import { compileMjml } from './mjml.compiler.ts';
import type { SlottedText } from './render.types.ts';
import { fillSlots, fillTemplate } from './template.engine.ts';
import { randomBytes } from 'node:crypto';

export type SystemMailKind = 'confirm' | 'welcome' | 'goodbye';

export interface SystemMailInput {
  lang: string;
  listNames: string[];
  /**
   * The reader's confirmed name for the greeting. Ignored for `confirm`: a confirmation goes to an
   * address nobody has proved yet, so it carries no text a stranger could have chosen (issue 11.2).
   */
  name: string | null;
  /** confirm: the confirmation link (required); goodbye: a "subscribe again" link (optional). */
  actionUrl?: string;
  preferencesUrl?: string;
  unsubscribeUrl?: string;
  config: Config;
}

export interface SystemMail {
  subject: string;
  html: string;
  text: string;
}

type Hole = 'greeting' | 'lists' | 'actionUrl' | 'preferencesUrl' | 'unsubscribeUrl';

/** The holes that differ from one message to the next; the list names are filled in the template. */
export type SystemMailSlot = Exclude<Hole, 'lists'>;

/**
 * A system mail with its HTML as a template (one object per kind, language, links present and
 * lists, shared by every message made from it) and this message's values, HTML-escaped: the
 * message builder encodes the template once and only the values per message (a confirmation's
 * 10 KB of HTML was most of a signup's cost in the server).
 */
export interface SystemMailParts {
  subject: string;
  html: SlottedText<SystemMailSlot>;
  htmlValues: Record<SystemMailSlot, string>;
  text: string;
}

interface CompiledSystemMail {
  html: string;
  pattern: RegExp;
  byMark: Map<string, Hole>;
  /** The HTML with the list names filled in, by the names' text (bounded: see MAX_LIST_TEMPLATES). */
  byLists: Map<string, SlottedText<SystemMailSlot>>;
}

/** Templates kept per compiled mail: a signup form offers a few lists, so a few combinations. */
const MAX_LIST_TEMPLATES = 256;

/**
 * Confirmation, welcome and goodbye mail. Signup must keep up with bursts (1,500/s), so MJML is
 * compiled once per kind, language, config and set of links present, and each message is only a
 * substitution of escaped values into marked holes.
 */
const cache = new WeakMap<Config, Map<string, Promise<CompiledSystemMail>>>();

export async function renderSystemMail(kind: SystemMailKind, input: SystemMailInput): Promise<SystemMail> {
  const parts = await renderSystemMailParts(kind, input);
  return { subject: parts.subject, html: fillSlots(parts.html, parts.htmlValues), text: parts.text };
}

/** renderSystemMail with the HTML as a shared template and this message's values (see SystemMailParts). */
export async function renderSystemMailParts(
  kind: SystemMailKind,
  input: SystemMailInput,
): Promise<SystemMailParts> {
  const strings = stringsFor(input.lang);
  const lang = normaliseLang(input.lang) ?? 'en';
  if (kind === 'confirm' && !input.actionUrl) {
    throw new Error('a confirmation mail needs actionUrl (the confirmation link)');
  }
  const present = {
    actionUrl: Boolean(input.actionUrl) && kind !== 'welcome',
    preferencesUrl: Boolean(input.preferencesUrl),
    unsubscribeUrl: Boolean(input.unsubscribeUrl),
  };
  const key = `${kind}|${lang}|${present.actionUrl ? 1 : 0}${present.preferencesUrl ? 1 : 0}${present.unsubscribeUrl ? 1 : 0}`;
  let byKey = cache.get(input.config);
  if (!byKey) {
    byKey = new Map();
    cache.set(input.config, byKey);
  }
  let compiled = byKey.get(key);
  if (!compiled) {
    compiled = compileSystemMail(kind, lang, strings, present, input.config);
    byKey.set(key, compiled);
    compiled.catch(() => byKey.delete(key));
  }
  const c = await compiled;

  const lists = strings.listJoin(input.listNames.map((n) => n.trim()).filter(Boolean));
  const name = kind === 'confirm' ? '' : (cleanName(input.name) ?? '');
  const greeting = name
    ? strings.greeting.before + name + strings.greeting.after
    : strings.greeting.anonymous;
  const raw: Record<Hole, string> = {
    greeting,
    lists,
    actionUrl: input.actionUrl ?? '',
    preferencesUrl: input.preferencesUrl ?? '',
    unsubscribeUrl: input.unsubscribeUrl ?? '',
  };
  let html = c.byLists.get(lists);
  if (!html) {
    html = slotted(c, escapeHtml(lists));
    if (c.byLists.size >= MAX_LIST_TEMPLATES) c.byLists.clear();
    c.byLists.set(lists, html);
  }
  return {
    subject: subjectFor(kind, strings, lists),
    html,
    htmlValues: {
      greeting: escapeHtml(raw.greeting),
      actionUrl: escapeHtml(raw.actionUrl),
      preferencesUrl: escapeHtml(raw.preferencesUrl),
      unsubscribeUrl: escapeHtml(raw.unsubscribeUrl),
    },
    text: systemText(kind, strings, raw, present, input.config),
  };
}

/** The compiled HTML cut at its holes, the list names (escaped) filled in. */
function slotted(c: CompiledSystemMail, listsHtml: string): SlottedText<SystemMailSlot> {
  const parts: string[] = [];
  const slots: SystemMailSlot[] = [];
  let part = '';
  let from = 0;
  for (const match of c.html.matchAll(c.pattern)) {
    part += c.html.slice(from, match.index);
    from = match.index + match[0].length;
    const hole = c.byMark.get(match[0])!;
    if (hole === 'lists') {
      part += listsHtml;
    } else {
      parts.push(part);
      slots.push(hole);
      part = '';
    }
  }
  parts.push(part + c.html.slice(from));
  return { parts, slots };
}

/** Compiles every system template once, so a template error stops the server at start. */
export async function verifySystemTemplates(config: Config): Promise<void> {
  for (const kind of ['confirm', 'welcome', 'goodbye'] as const) {
    for (const lang of ['en', 'zh-CN']) {
      await renderSystemMail(kind, {
        lang,
        listNames: ['Check'],
        name: null,
        actionUrl: `${config.PUBLIC_URL}/check`,
        preferencesUrl: `${config.PUBLIC_URL}/check`,
        unsubscribeUrl: `${config.PUBLIC_URL}/check`,
        config,
      });
    }
  }
}

function subjectFor(kind: SystemMailKind, strings: MailStrings, lists: string): string {
  return strings[kind].subject(lists);
}

async function compileSystemMail(
  kind: SystemMailKind,
  lang: string,
  strings: MailStrings,
  present: { actionUrl: boolean; preferencesUrl: boolean; unsubscribeUrl: boolean },
  config: Config,
): Promise<CompiledSystemMail> {
  const nonce = randomBytes(9).toString('hex');
  const holes: Hole[] = ['greeting', 'lists', 'actionUrl', 'preferencesUrl', 'unsubscribeUrl'];
  const mark = Object.fromEntries(holes.map((h) => [h, `DMHOLE${nonce}${h}X`])) as Record<Hole, string>;
  const s = strings[kind];
  const copy = {
    confirm: { button: strings.confirm.button, note: strings.confirm.ignore },
    welcome: { button: strings.preferences, note: strings.welcome.manage },
    goodbye: { button: strings.goodbye.resubscribe, note: strings.goodbye.mistake },
  }[kind];
  const mjml = fillTemplate(kind, {
    lang,
    dir: textDirection(lang),
    subject: s.subject(mark.lists),
    preheader: s.body(mark.lists),
    heading: s.heading,
    greeting: mark.greeting,
    body: escapeHtml(s.body(mark.lists)),
    button: copy.button,
    note: copy.note,
    fallback: strings.buttonFallback,
    actionUrl: present.actionUrl ? mark.actionUrl : '',
    preferencesUrl: present.preferencesUrl ? mark.preferencesUrl : '',
    unsubscribeUrl: present.unsubscribeUrl ? mark.unsubscribeUrl : '',
    hasLinks: present.preferencesUrl || present.unsubscribeUrl,
    bothLinks: present.preferencesUrl && present.unsubscribeUrl,
    preferences: strings.preferences,
    unsubscribe: strings.unsubscribe,
    orgName: config.ORG_NAME,
    postalAddress: config.POSTAL_ADDRESS,
  });
  const html = await compileMjml(mjml, kind);
  const byMark = new Map(holes.map((h) => [mark[h], h]));
  return { html, pattern: new RegExp(holes.map((h) => mark[h]).join('|'), 'g'), byMark, byLists: new Map() };
}

function systemText(
  kind: SystemMailKind,
  strings: MailStrings,
  raw: Record<Hole, string>,
  present: { actionUrl: boolean; preferencesUrl: boolean; unsubscribeUrl: boolean },
  config: Config,
): string {
  const s = strings[kind];
  const out: string[] = [s.heading, '', raw.greeting, '', s.body(raw.lists), ''];
  if (kind === 'confirm')
    out.push(`${strings.confirm.button}: ${raw.actionUrl}`, '', strings.confirm.ignore, '');
  if (kind === 'welcome' && present.preferencesUrl) out.push(strings.welcome.manage, raw.preferencesUrl, '');
  if (kind === 'goodbye' && present.actionUrl) {
    out.push(`${strings.goodbye.mistake} ${strings.goodbye.resubscribe}: ${raw.actionUrl}`, '');
  }
  out.push('--');
  if (kind !== 'welcome' && present.preferencesUrl) out.push(`${strings.preferences}: ${raw.preferencesUrl}`);
  if (present.unsubscribeUrl) out.push(`${strings.unsubscribe}: ${raw.unsubscribeUrl}`);
  out.push(config.ORG_NAME);
  if (config.POSTAL_ADDRESS) out.push(config.POSTAL_ADDRESS);
  return `${out.join('\n')}\n`;
}
