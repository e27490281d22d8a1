import { createHash } from 'node:crypto';
import { escapeHtml } from '../core/html.text.ts';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Feed } from 'feed';
import {
  type ArchiveEntry,
  type ArchivePage,
  ArchiveService,
  type PublicList,
} from '../issues/archive.service.ts';
import type { IssueTemplate } from '../render/render.types.ts';
import { fillSlots } from '../render/template.engine.ts';
import { html } from './html.ts';
import { type AppDeps, pageContext, parseId, sendPage } from './http.context.ts';
import { messages } from './i18n.ts';
import { messagePage, type PageContext, page } from './pages.ts';

/**
 * The issues on the web: `/archive` (every public list), `/lists/<slug>/` (one list, with a way to
 * sign up), each issue at `/lists/<slug>/<day>-<slug of title>` (and at its old URL `/archive/:id`,
 * the same page: canonical link, Open Graph and Twitter tags naming the readable URL), and
 * `/lists/<slug>/feed.xml` (Atom).
 *
 * Everything here is the same for every reader: no token, no CSRF value, no per-reader link (the
 * personal links of a reader's own mail lead to the signup page here). So it is cached by browsers
 * and proxies (`public, max-age=300`) and answered with 304 to a matching If-None-Match or
 * If-Modified-Since; and in this process, rendered pages and feeds are kept by the archive's
 * version, which is re-read at most every few seconds (ARCHIVE_RECHECK_MS), so a repeat request
 * costs no query at all: a lookup and a send.
 */

const CACHE_CONTROL = 'public, max-age=300';
/** The mail's HTML has inline styles and remote images: its own CSP, still without any script. */
const ISSUE_CSP =
  "default-src 'none'; style-src 'unsafe-inline' https:; img-src https: http: data:; font-src https: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const TEXT = {
  en: {
    archive: 'Archive',
    listArchive: (name: string) => `${name}: archive`,
    empty: 'No issues yet.',
    newer: 'Newer',
    older: 'Older',
    page: (n: number, of: number) => `Page ${n} of ${of}`,
    subscribe: 'Subscribe',
    feed: 'Atom feed',
  },
  'zh-CN': {
    archive: '往期',
    listArchive: (name: string) => `${name}：往期`,
    empty: '还没有往期内容。',
    newer: '较新',
    older: '较早',
    page: (n: number, of: number) => `第 ${n} / ${of} 页`,
    subscribe: '订阅',
    feed: 'Atom 订阅源',
  },
} as const;

interface Cached {
  body: string;
  /** The body gzipped once, for clients that accept it (feed readers do): a feed is large. */
  gzip: Buffer;
  etag: string;
  lastModified: Date;
}

function cachedBody(body: string, lastModified: Date): Cached {
  return { body, gzip: gzipSync(body), etag: etagOf(body), lastModified };
}

export async function webArchiveRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const archive = new ArchiveService(deps.db);
  const publicUrl = deps.config.PUBLIC_URL.replace(/\/+$/, '');
  const host = new URL(publicUrl).hostname;
  const cache = new Map<string, Cached>();
  const paths = new Map<string, ArchiveEntry | null>();
  const remember = (key: string, make: () => Promise<Cached | undefined>) => memo(cache, key, make);

  const notFound = (request: FastifyRequest, reply: FastifyReply) => {
    const ctx = pageContext(request, deps.config);
    const t = messages(ctx.lang);
    return sendPage(reply, 404, messagePage(ctx, t.notFoundTitle, [t.notFoundBody]));
  };

  app.get<{ Querystring: { page?: string } }>('/archive', async (request, reply) => {
    const pageNo = pageNumber(request.query.page);
    if (pageNo === undefined) return notFound(request, reply);
    const ctx = pageContext(request, deps.config);
    const version = await archive.version();
    const found = await remember(`archive:${ctx.lang}:${pageNo}:${version}`, async () => {
      const result = await archive.page(pageNo);
      if (pageNo > result.pages) return undefined;
      const body = listingPage(ctx, TEXT[ctx.lang].archive, result, '/archive', undefined);
      return cachedBody(body, newest(result.entries));
    });
    if (!found) return notFound(request, reply);
    return sendCached(request, reply, found, 'text/html; charset=utf-8');
  });

  // With and without the final slash: the site answers no redirects at all.
  const listPage = async (
    request: FastifyRequest<{ Params: { slug: string }; Querystring: { page?: string } }>,
    reply: FastifyReply,
  ) => {
    const pageNo = pageNumber(request.query.page);
    const list = await archive.publicList(request.params.slug);
    if (!list || pageNo === undefined) return notFound(request, reply);
    const ctx = pageContext(request, deps.config);
    const version = await archive.version(list.id);
    const found = await remember(`list:${list.id}:${ctx.lang}:${pageNo}:${version}`, async () => {
      const result = await archive.page(pageNo, list.id);
      if (pageNo > result.pages) return undefined;
      const body = listingPage(
        ctx,
        TEXT[ctx.lang].listArchive(list.name),
        result,
        `/lists/${list.slug}/`,
        list,
      );
      return cachedBody(body, newest(result.entries, list.updatedAt));
    });
    if (!found) return notFound(request, reply);
    return sendCached(request, reply, found, 'text/html; charset=utf-8');
  };
  app.get('/lists/:slug', listPage);
  app.get('/lists/:slug/', listPage);

  app.get<{ Params: { slug: string } }>('/lists/:slug/feed.xml', async (request, reply) => {
    const list = await archive.publicList(request.params.slug);
    if (!list) return notFound(request, reply);
    const version = await archive.version(list.id);
    const found = await remember(`feed:${list.id}:${version}`, async () => {
      const issues = await archive.latest(list);
      const body = atomFeed(list, issues, publicUrl, host, deps.config.ORG_NAME);
      return cachedBody(
        body,
        newest(
          issues.map((i) => i.entry),
          list.updatedAt,
        ),
      );
    });
    return sendCached(request, reply, found!, 'application/atom+xml; charset=utf-8');
  });

  app.get<{ Params: { slug: string; issue: string } }>('/lists/:slug/:issue', async (request, reply) => {
    const list = await archive.publicList(request.params.slug);
    if (!list) return notFound(request, reply);
    // Which issue a path names is kept per archive version too: finding it reads templates (the day is
    // in them), the version query does not.
    const version = await archive.version(list.id);
    const pathKey = `path:${list.id}:${request.params.issue}:${version}`;
    let entry = paths.get(pathKey);
    if (entry === undefined) {
      entry = (await archive.byPath(list, request.params.issue)) ?? null;
      if (paths.size >= 5000) paths.clear();
      paths.set(pathKey, entry);
    }
    if (!entry) return notFound(request, reply);
    // A sent issue never changes; its page changes only with its list (name, description).
    const key = `issue:${entry.id}:${list.updatedAt.getTime()}`;
    const cached = await remember(key, async () => {
      const template = await archive.template(entry.id);
      if (!template) return undefined;
      return cachedBody(issuePage(entry, template, list, publicUrl), entry.publishedAt);
    });
    if (!cached) return notFound(request, reply);
    reply.header('content-security-policy', ISSUE_CSP);
    return sendCached(request, reply, cached, 'text/html; charset=utf-8');
  });

  // The old URL of an issue ("view in browser" in mail sent before readable URLs) keeps working: the
  // same page as the readable URL, whose canonical link, og:url and "view in browser" name the
  // readable URL. Kept by the archive's version (a list renamed or an issue gone out makes a new one).
  app.get<{ Params: { id: string } }>('/archive/:id', async (request, reply) => {
    const id = parseId(request.params.id);
    if (id === undefined) return notFound(request, reply);
    const version = await archive.version();
    const cached = await remember(`archive-id:${id}:${version}`, async () => {
      const found = await archive.byId(id);
      if (!found) return undefined;
      return cachedBody(
        issuePage(found.entry, found.template, found.entry.list, publicUrl),
        found.entry.publishedAt,
      );
    });
    if (!cached) return notFound(request, reply);
    reply.header('content-security-policy', ISSUE_CSP);
    return sendCached(request, reply, cached, 'text/html; charset=utf-8');
  });
}

async function memo(
  cache: Map<string, Cached>,
  key: string,
  make: () => Promise<Cached | undefined>,
): Promise<Cached | undefined> {
  const hit = cache.get(key);
  if (hit) return hit;
  const made = await make();
  if (made) {
    // Keys carry the archive's version, so old ones are never asked for again: a bounded map is enough.
    if (cache.size >= 500) cache.clear();
    cache.set(key, made);
  }
  return made;
}

/** Sends a cached page with its validators, or 304 when the client already has it. */
function sendCached(request: FastifyRequest, reply: FastifyReply, cached: Cached, type: string) {
  const lastModified = new Date(Math.floor(cached.lastModified.getTime() / 1000) * 1000);
  reply
    .header('cache-control', CACHE_CONTROL)
    .header('etag', cached.etag)
    .header('last-modified', lastModified.toUTCString())
    .header('vary', 'Accept-Language, Accept-Encoding');
  const inm = request.headers['if-none-match'];
  const ims = request.headers['if-modified-since'];
  const fresh =
    inm !== undefined
      ? inm
          .split(',')
          .map((t) => t.trim().replace(/^W\//, ''))
          .some((t) => t === cached.etag || t === '*')
      : ims !== undefined && !Number.isNaN(Date.parse(ims)) && Date.parse(ims) >= lastModified.getTime();
  if (fresh) return reply.code(304).send();
  reply.code(200).type(type);
  if (acceptsGzip(request.headers['accept-encoding'])) {
    return reply.header('content-encoding', 'gzip').send(cached.gzip);
  }
  return reply.send(cached.body);
}

/** `gzip` listed in Accept-Encoding without `q=0`. */
function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== 'x-gzip') return false;
    return !params.some((p) => /^\s*q=0(\.0*)?\s*$/.test(p));
  });
}

function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

function newest(entries: ArchiveEntry[], floor?: Date): Date {
  let latest = floor?.getTime() ?? 0;
  for (const e of entries) latest = Math.max(latest, e.publishedAt.getTime());
  return new Date(latest);
}

function pageNumber(raw: string | undefined): number | undefined {
  if (raw === undefined) return 1;
  if (!/^[1-9]\d{0,5}$/.test(raw)) return undefined;
  return Number(raw);
}

function listingPage(
  ctx: PageContext,
  title: string,
  result: ArchivePage,
  basePath: string,
  list: PublicList | undefined,
): string {
  const t = TEXT[ctx.lang];
  const link = (n: number) => (n === 1 ? basePath : `${basePath}?page=${n}`);
  const entries = result.entries.map(
    (e) => html`<article>
<h2 style="font-size:19px;margin:18px 0 4px"><a href="${e.path}">${e.title}</a></h2>
<p class="muted"><time datetime="${e.day}">${e.day}</time>${list ? '' : html` · <a href="/lists/${e.list.slug}/">${e.list.name}</a>`}</p>
${e.introLine ? html`<p>${e.introLine}</p>` : ''}
</article>`,
  );
  const nav =
    result.pages > 1
      ? html`<nav aria-label="${t.page(result.page, result.pages)}"><p class="muted">${
          result.page > 1 ? html`<a rel="prev" href="${link(result.page - 1)}">${t.newer}</a> · ` : ''
        }${t.page(result.page, result.pages)}${
          result.page < result.pages
            ? html` · <a rel="next" href="${link(result.page + 1)}">${t.older}</a>`
            : ''
        }</p></nav>`
      : '';
  // The signup form itself carries a per-visitor CSRF value, which a page cached for everyone cannot;
  // this form leads to it with the list already chosen.
  const signup = list
    ? html`${list.description ? html`<p class="lead">${list.description}</p>` : ''}
<form method="get" action="/subscribe"><input type="hidden" name="list" value="${list.slug}"><input type="hidden" name="lang" value="${ctx.lang}"><button type="submit">${t.subscribe}</button></form>
<p class="muted"><a href="/lists/${list.slug}/feed.xml" type="application/atom+xml">${t.feed}</a></p>`
    : '';
  const body = html`${signup}${entries.length > 0 ? entries : html`<p>${t.empty}</p>`}${nav}`;
  let out = page(ctx, title, body);
  if (list) {
    out = out.replace(
      '</head>',
      `<link rel="alternate" type="application/atom+xml" title="${escapeHtml(list.name)}" href="/lists/${escapeHtml(list.slug)}/feed.xml">\n</head>`,
    );
  }
  // An archive is meant to be found: unlike the token pages, it may be indexed.
  return out.replace('<meta name="robots" content="noindex">\n', '');
}

/** The web version of an issue with the tags that make a shared link readable. */
function issuePage(
  entry: ArchiveEntry,
  template: IssueTemplate,
  list: { slug: string; name: string },
  publicUrl: string,
): string {
  const canonical = `${publicUrl}${encodePath(entry.path)}`;
  const feedUrl = `${publicUrl}/lists/${list.slug}/feed.xml`;
  const full = webHtml(template, publicUrl, canonical);
  const description = template.preheader;
  const head = [
    `<link rel="canonical" href="${escapeHtml(canonical)}">`,
    `<link rel="alternate" type="application/atom+xml" title="${escapeHtml(list.name)}" href="${escapeHtml(feedUrl)}">`,
    `<meta name="description" content="${escapeHtml(description)}">`,
    '<meta property="og:type" content="article">',
    `<meta property="og:title" content="${escapeHtml(template.title)}">`,
    `<meta property="og:description" content="${escapeHtml(description)}">`,
    `<meta property="og:url" content="${escapeHtml(canonical)}">`,
    `<meta property="og:site_name" content="${escapeHtml(list.name)}">`,
    `<meta property="og:locale" content="${escapeHtml(template.lang.replace('-', '_'))}">`,
    `<meta property="article:published_time" content="${entry.publishedAt.toISOString()}">`,
    '<meta name="twitter:card" content="summary">',
    `<meta name="twitter:title" content="${escapeHtml(template.title)}">`,
    `<meta name="twitter:description" content="${escapeHtml(description)}">`,
  ].join('\n');
  return full.includes('</head>') ? full.replace('</head>', `${head}\n</head>`) : `${head}\n${full}`;
}

/**
 * The issue's HTML as everyone sees it: the greeting for an unknown name, the reader's personal links
 * (unsubscribe, preferences) replaced by the signup page, "view in browser" by the issue's own URL.
 */
function webHtml(template: IssueTemplate, publicUrl: string, canonical: string): string {
  const signup = escapeHtml(`${publicUrl}/subscribe`);
  return fillSlots(template.html, {
    greeting: escapeHtml(template.greeting.anonymous),
    webUrl: escapeHtml(canonical),
    preferencesUrl: signup,
    unsubscribeUrl: signup,
  });
}

/** Atom 1.0 of the newest issues, full content, built with the `feed` library. */
function atomFeed(
  list: PublicList,
  issues: { entry: ArchiveEntry; template: IssueTemplate }[],
  publicUrl: string,
  host: string,
  orgName: string,
): string {
  const listUrl = `${publicUrl}/lists/${encodeURIComponent(list.slug)}/`;
  const updated = newest(
    issues.map((i) => i.entry),
    list.updatedAt,
  );
  const feed = new Feed({
    title: list.name,
    description: list.description || undefined,
    // Ids never change: a tag URI (RFC 4151) of the site's host and the list's id, not its URL.
    id: `tag:${host},2025:digestmail/lists/${list.id}`,
    link: listUrl,
    language: list.language,
    updated,
    generator: 'digestmail',
    copyright: orgName,
    feedLinks: { atom: `${listUrl}feed.xml` },
    author: { name: orgName },
  });
  for (const { entry, template } of issues) {
    const canonical = `${publicUrl}${encodePath(entry.path)}`;
    feed.addItem({
      title: entry.title,
      id: `tag:${host},2025:digestmail/issues/${entry.id}`,
      link: canonical,
      date: entry.publishedAt,
      published: entry.publishedAt,
      description: template.preheader,
      content: bodyOf(webHtml(template, publicUrl, canonical)),
    });
  }
  return feed.atom1();
}

/** What is inside `<body>`: a feed entry's content is a fragment, not a document. */
function bodyOf(document: string): string {
  const start = document.search(/<body[^>]*>/i);
  const end = document.lastIndexOf('</body>');
  if (start < 0 || end < 0) return document;
  return document.slice(document.indexOf('>', start) + 1, end).trim();
}

function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}
