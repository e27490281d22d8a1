import { Html, html } from '../html.ts';
import type { Lang } from '../i18n.ts';
import { languageSwitch } from '../pages.ts';
import { ASSETS } from './console.assets.ts';
import type { ConsoleText } from './console.i18n.ts';

/**
 * The console's pages share the reader pages' escaping (`html`), and one shell: a top bar with the
 * sections, the language switch and sign-out, and a main column that fits 375 px and 1280 px.
 */

export interface ConsoleViewer {
  email: string;
  role: 'admin' | 'editor';
}

export interface ConsoleContext {
  lang: Lang;
  t: ConsoleText;
  /** Path of this page (no query), for the language switch. */
  path: string;
  orgName: string;
  /** The signed-in editor; absent on the sign-in pages. */
  viewer?: ConsoleViewer;
  /** The CSRF token every form of this page posts. */
  csrf: string;
}

type Section = 'dashboard' | 'newIssue' | 'subscribers' | 'suppressions' | 'lists' | 'editors' | 'audit' | '';

const SECTIONS: { key: Exclude<Section, ''>; href: string; admin?: boolean }[] = [
  { key: 'dashboard', href: '/console/' },
  { key: 'newIssue', href: '/console/issues/new' },
  { key: 'subscribers', href: '/console/subscribers' },
  { key: 'suppressions', href: '/console/suppressions' },
  { key: 'lists', href: '/console/lists' },
  { key: 'editors', href: '/console/editors', admin: true },
  { key: 'audit', href: '/console/audit' },
];

const STYLESHEET = `/console/assets/console.css?v=${ASSETS['console.css']!.etag.slice(1, 9)}`;

export function consolePage(
  ctx: ConsoleContext,
  title: string,
  body: Html,
  options: { section?: Section; scripts?: string[] } = {},
): string {
  const { t } = ctx;
  const switcher = languageSwitch(ctx.path, ctx.lang);
  const nav = ctx.viewer
    ? html`<nav aria-label="${t.console}">${SECTIONS.filter(
        (s) => !s.admin || ctx.viewer?.role === 'admin',
      ).map(
        (s) =>
          html`<a href="${s.href}"${s.key === options.section ? html` aria-current="page"` : ''}>${t.nav[s.key]}</a>`,
      )}</nav>
<form method="post" action="/console/logout"><input type="hidden" name="_csrf" value="${ctx.csrf}"><button type="submit" title="${ctx.viewer.email}">${t.signOut}</button></form>`
    : html`<span></span>`;
  const scripts = (options.scripts ?? []).map(
    (name) => html`<script src="/console/assets/${name}?v=${ASSETS[name]!.etag.slice(1, 9)}" defer></script>`,
  );
  return html`<!doctype html>
<html lang="${ctx.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · ${t.console} · ${ctx.orgName}</title>
<link rel="stylesheet" href="${STYLESHEET}">
${scripts}
</head>
<body>
<a class="skip" href="#main">${t.skip}</a>
<header class="top"><a class="brand" href="/console/">${ctx.orgName}</a>${nav}<span class="lang">${switcher}</span></header>
<main id="main">
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`.value;
}

/** A form with one button posting to `action` with the page's CSRF token. */
export function postButton(
  ctx: ConsoleContext,
  action: string,
  label: string,
  options: { className?: string; fields?: Record<string, string> } = {},
): Html {
  return html`<form method="post" action="${action}"><input type="hidden" name="_csrf" value="${ctx.csrf}">${Object.entries(
    options.fields ?? {},
  ).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<button type="submit"${
    options.className ? html` class="${options.className}"` : ''
  }>${label}</button></form>`;
}

export function csrfField(ctx: ConsoleContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
}

export function flash(ctx: ConsoleContext, done: string | undefined, error?: string): Html {
  const notice = done ? ctx.t.done[done] : undefined;
  return html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}${
    error ? html`<p class="error" role="alert">${error}</p>` : ''
  }`;
}

export function statusBadge(ctx: ConsoleContext, status: string): Html {
  return html`<span class="badge ${status}" data-status-label>${ctx.t.status[status] ?? status}</span>`;
}

export function formatTime(date: Date | null | undefined, timeZone: string, lang: Lang): string {
  if (!date) return '';
  return new Intl.DateTimeFormat(lang === 'zh-CN' ? 'zh-CN' : 'en-GB', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'shortOffset',
  }).format(date);
}

export { Html, html };
