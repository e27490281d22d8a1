import { createHash } from 'node:crypto';
import { Html, html } from './html.ts';
import { LANGS, type Lang, type Messages, messages } from './i18n.ts';

/**
 * The reader-facing pages, server-rendered: they work without JavaScript, every input has a label,
 * and one stylesheet makes them fit a phone and a desktop. Every value goes through `html`, which
 * escapes it.
 */

export interface PageContext {
  lang: Lang;
  /** Path of this page (no query), for the language switch. */
  path: string;
  orgName: string;
  postalAddress: string;
}

const CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;min-height:100vh;display:flex;flex-direction:column;align-items:center;justify-content:flex-start;
 padding:48px 16px 24px;background:#f3f4f8;color:#1d2433;
 font:16px/1.6 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"PingFang SC","Hiragino Sans GB","Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif}
main{width:100%;max-width:480px;background:#fff;border-radius:14px;padding:32px 28px;
 box-shadow:0 1px 2px rgba(16,24,40,.06),0 8px 24px rgba(16,24,40,.08)}
.org{margin:0 0 4px;font-size:13px;font-weight:600;letter-spacing:.06em;text-transform:uppercase;color:#5b6478}
h1{margin:0 0 12px;font-size:26px;line-height:1.25}
p{margin:0 0 14px}
.muted{color:#5b6478;font-size:14px}
.lead{font-size:17px}
.lead .muted{font-size:15px}
form{margin:20px 0 0}
.field{margin:0 0 18px}
label{display:block;font-weight:600;margin:0 0 6px}
label .opt{font-weight:400;color:#5b6478;font-size:14px}
input[type=email],input[type=text]{width:100%;padding:12px 14px;font:inherit;color:inherit;background:#fff;
 border:1px solid #c5cad6;border-radius:9px;outline:none}
input[type=email]:focus,input[type=text]:focus{border-color:#3557d6;box-shadow:0 0 0 3px rgba(53,87,214,.18)}
.hint{margin:6px 0 0;font-size:13px;color:#5b6478}
fieldset{margin:0 0 18px;padding:0;border:0}
legend{font-weight:600;margin:0 0 6px;padding:0}
legend.hint{font-weight:400}
.check{display:flex;gap:10px;align-items:flex-start;font-weight:400;margin:0 0 8px;cursor:pointer}
.check input{margin:4px 0 0;width:18px;height:18px;flex:none;accent-color:#3557d6}
.check small{display:block;color:#5b6478;font-size:13px}
.topics{margin:4px 0 14px 28px;display:flex;flex-wrap:wrap;gap:6px 16px}
.topics .check{margin:0}
button{display:block;width:100%;padding:13px 18px;font:inherit;font-weight:600;color:#fff;background:#3557d6;
 border:0;border-radius:9px;cursor:pointer}
button:hover{background:#2946b8}
button:focus-visible{outline:3px solid rgba(53,87,214,.45);outline-offset:2px}
button.secondary{background:#fff;color:#b42318;border:1px solid #e4b4ae;margin-top:10px}
button.secondary:hover{background:#fff4f2}
.error{background:#fff4f2;border:1px solid #f1c5bf;color:#912018;border-radius:9px;padding:10px 14px;margin:0 0 18px}
.notice{background:#f0f5ff;border:1px solid #c7d6fe;border-radius:9px;padding:10px 14px;margin:0 0 18px}
.hp{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}
a{color:#3557d6}
footer{max-width:480px;width:100%;margin:18px 0 0;text-align:center;font-size:13px;color:#5b6478}
footer a{margin:0 6px}
@media (max-width:480px){body{padding:20px 12px}main{padding:24px 18px;border-radius:12px}h1{font-size:22px}}
`;

/** The CSP allows exactly this stylesheet and no other inline code. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(CSS).digest('base64')}'`;

/** The language switch of every page (readers' and the console's): this page in each language. */
export function languageSwitch(path: string, current: Lang): Html[] {
  return LANGS.map((lang) =>
    lang === current
      ? html`<strong>${messages(lang).langName}</strong>`
      : html`<a href="${path}?lang=${lang}" hreflang="${lang}" lang="${lang}">${messages(lang).langName}</a>`,
  );
}

export function page(ctx: PageContext, title: string, body: Html): string {
  const switcher = languageSwitch(ctx.path, ctx.lang);
  return html`<!doctype html>
<html lang="${ctx.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · ${ctx.orgName}</title>
<style>${new Html(CSS)}</style>
</head>
<body>
<main>
<p class="org">${ctx.orgName}</p>
<h1>${title}</h1>
${body}
</main>
<footer><nav aria-label="Language">${switcher}</nav>${ctx.postalAddress ? html`<p>${ctx.postalAddress}</p>` : ''}</footer>
</body>
</html>
`.value;
}

export interface FormList {
  id: number;
  name: string;
  description: string;
}

export interface SignupFormData {
  lists: FormList[];
  csrf: string;
  email?: string;
  name?: string;
  chosen?: number[];
  error?: string;
}

export function signupPage(ctx: PageContext, data: SignupFormData): string {
  const t = messages(ctx.lang);
  if (data.lists.length === 0) return page(ctx, t.subscribeTitle, html`<p>${t.noLists}</p>`);
  const lists =
    data.lists.length > 1
      ? html`<fieldset class="field">
<legend>${t.lists}</legend>
${data.lists.map(
  (l) =>
    html`<label class="check"><input type="checkbox" name="lists" value="${l.id}"${
      !data.chosen || data.chosen.includes(l.id) ? html` checked` : ''
    }><span>${l.name}${l.description ? html`<small>${l.description}</small>` : ''}</span></label>`,
)}
<p class="hint">${t.chooseLists}</p>
</fieldset>`
      : html`<input type="hidden" name="lists" value="${data.lists[0]!.id}">`;
  return page(
    ctx,
    t.subscribeTitle,
    html`${
      data.lists.length === 1
        ? html`<p class="lead"><strong>${data.lists[0]!.name}</strong>${
            data.lists[0]!.description
              ? html`<br><span class="muted">${data.lists[0]!.description}</span>`
              : ''
          }</p>`
        : html`<p>${t.subscribeIntro}</p>`
    }
${data.error ? html`<p class="error" role="alert">${data.error}</p>` : ''}
<form method="post" action="/subscribe" accept-charset="utf-8">
<input type="hidden" name="_csrf" value="${data.csrf}">
<input type="hidden" name="lang" value="${ctx.lang}">
<div class="field">
<label for="email">${t.email}</label>
<input type="email" id="email" name="email" required maxlength="254" autocomplete="email" inputmode="email" value="${data.email ?? ''}" aria-describedby="email-hint">
<p class="hint" id="email-hint">${t.emailHint}</p>
</div>
<div class="field">
<label for="name">${t.name} <span class="opt">(${t.optional})</span></label>
<input type="text" id="name" name="name" maxlength="200" autocomplete="name" value="${data.name ?? ''}">
</div>
${lists}
<div class="hp" aria-hidden="true"><label for="website">${t.honeypot}</label><input type="text" id="website" name="website" tabindex="-1" autocomplete="off"></div>
<button type="submit">${t.subscribe}</button>
<p class="hint">${t.privacy}</p>
</form>`,
  );
}

export function messagePage(
  ctx: PageContext,
  title: string,
  paragraphs: string[],
  extra: Html | string = '',
): string {
  return page(ctx, title, html`${paragraphs.map((p) => html`<p>${p}</p>`)}${extra}`);
}

/**
 * The page every accepted signup gets, the same for all of them in one language: made once per
 * language (and path, org and address, which a config fixes) rather than on each of a burst of signups.
 */
const checkInboxPages = new Map<string, string>();

export function checkInboxPage(ctx: PageContext): string {
  const key = `${ctx.lang}\n${ctx.path}\n${ctx.orgName}\n${ctx.postalAddress}`;
  let made = checkInboxPages.get(key);
  if (made === undefined) {
    const t = messages(ctx.lang);
    made = messagePage(
      ctx,
      t.checkInboxTitle,
      [t.checkInboxBody],
      html`<p class="muted">${t.checkInboxHint}</p>`,
    );
    // Paths are the route's own (a query never reaches ctx.path), so only a handful of keys exist.
    if (checkInboxPages.size >= 100) checkInboxPages.clear();
    checkInboxPages.set(key, made);
  }
  return made;
}

/** A form with one button, posting back to `action` with the CSRF token. */
export function buttonForm(
  action: string,
  csrf: string,
  label: string,
  fields: Record<string, string> = {},
  className = '',
): Html {
  return html`<form method="post" action="${action}">
<input type="hidden" name="_csrf" value="${csrf}">
${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
<button type="submit"${className ? html` class="${className}"` : ''}>${label}</button>
</form>`;
}

export function linkInvalidPage(ctx: PageContext, expired: boolean): string {
  const t = messages(ctx.lang);
  return messagePage(
    ctx,
    expired ? t.linkExpiredTitle : t.linkInvalidTitle,
    [expired ? t.linkExpiredBody : t.linkInvalidBody],
    html`<p><a href="/subscribe?lang=${ctx.lang}">${t.getNewLink}</a></p>`,
  );
}

export function joinNames(t: Messages, names: string[]): string {
  return names.join(t.listSeparator);
}

export interface PreferencesData {
  action: string;
  csrf: string;
  email: string;
  name: string | null;
  /** Whether the reader's clicks are counted; undefined when none of the lists counts clicks. */
  countClicks?: boolean | undefined;
  lists: {
    id: number;
    name: string;
    description: string;
    subscribed: boolean;
    /** Joined from a link but waiting for the reader to press the one in the confirmation mail. */
    pending: boolean;
    offeredTopics: string[];
    chosenTopics: string[];
  }[];
  notice?: string;
  error?: string;
}

export function preferencesPage(ctx: PageContext, data: PreferencesData): string {
  const t = messages(ctx.lang);
  return page(
    ctx,
    t.preferencesTitle,
    html`<p>${t.preferencesIntro(data.email)}</p>
${data.notice ? html`<p class="notice" role="status">${data.notice}</p>` : ''}
${data.error ? html`<p class="error" role="alert">${data.error}</p>` : ''}
<form method="post" action="${data.action}" accept-charset="utf-8">
<input type="hidden" name="_csrf" value="${data.csrf}">
<input type="hidden" name="lang" value="${ctx.lang}">
<div class="field">
<label for="name">${t.name} <span class="opt">(${t.optional})</span></label>
<input type="text" id="name" name="name" maxlength="200" autocomplete="name" value="${data.name ?? ''}">
</div>
<fieldset class="field">
<legend>${t.lists}</legend>
${data.lists.map(
  (
    l,
  ) => html`<label class="check"><input type="checkbox" name="lists" value="${l.id}"${l.subscribed || l.pending ? html` checked` : ''}><span>${t.receive(l.name)}${
    l.description ? html`<small>${l.description}</small>` : ''
  }${l.pending ? html`<small class="pending">${t.pendingNote}</small>` : ''}</span></label>
${
  l.offeredTopics.length > 0
    ? html`<fieldset class="topics"><legend class="hint">${t.topics}: ${t.topicsHint}</legend>${l.offeredTopics.map(
        (topic) =>
          html`<label class="check"><input type="checkbox" name="topics_${l.id}" value="${topic}"${
            l.chosenTopics.includes(topic) ? html` checked` : ''
          }><span>${topic}</span></label>`,
      )}</fieldset>`
    : ''
}`,
)}
</fieldset>
${
  data.countClicks === undefined
    ? ''
    : html`<div class="field"><input type="hidden" name="clicks_offered" value="1"><label class="check"><input type="checkbox" name="count_clicks"${
        data.countClicks ? html` checked` : ''
      }><span>${t.countClicks}<small>${t.countClicksHint}</small></span></label></div>`
}
<button type="submit" name="action" value="save">${t.save}</button>
<button type="submit" name="action" value="leave-all" class="secondary">${t.leaveAll}</button>
</form>`,
  );
}
