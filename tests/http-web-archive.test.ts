import { parseFeed } from '@rowanmanning/feed-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { launchChromium } from './helpers/browser.ts';
import { startTestApp, type TestApp } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const digest = (title: string, day: string) => `---
title: "${title}"
date: ${day}T07:00:00+08:00
preheader: "Preheader of ${title}"
---

First line of the intro for ${title}.
Second line of the intro.

---

1. [Headline of ${title}](https://example.org/${encodeURIComponent(title)})

   A summary.
`;

let db: TestDatabase;
let t: TestApp;
const issueIds: Record<string, number> = {};
let dailyId = 0;

/** Inserts a sent issue as a send would leave it; `minutes` after a fixed start orders them. */
async function sentIssue(
  listId: number,
  listSlug: string,
  title: string,
  day: string,
  minutes: number,
  status = 'sent',
) {
  const source = digest(title, day);
  const template = await compileIssue(parseDigest(source, `${day}.md`), {
    config: t.config,
    list: { slug: listSlug, name: listSlug },
  });
  const row = await db.db
    .insertInto('issues')
    .values({
      list_id: listId,
      status: status as 'sent',
      subject: title,
      title,
      digest_source: source,
      digest_hash: `${title}-${minutes}`,
      template: JSON.stringify(template),
      started_at: new Date(Date.UTC(2025, 10, 1, 0, minutes)),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  t = await startTestApp(db, { PUBLIC_URL: 'https://news.example.org' });
  const lists = new ListsService(db.db);
  const daily = await lists.create({ slug: 'daily', name: 'AI Daily', description: 'One mail a day.' });
  dailyId = daily.id;
  const weekly = await lists.create({ slug: 'weekly', name: 'Weekly' });
  const hidden = await lists.create({ slug: 'hidden', name: 'Hidden', isPublic: false });
  // 55 sent daily issues (more than a feed holds, more than two archive pages), one a day.
  for (let i = 1; i <= 55; i++) {
    const day = new Date(Date.UTC(2025, 8, i)).toISOString().slice(0, 10);
    issueIds[`daily${i}`] = await sentIssue(daily.id, 'daily', `Daily number ${i}`, day, i * 10);
  }
  issueIds.weekly = await sentIssue(weekly.id, 'weekly', '2025.11.10 全球AI新闻速递', '2025-11-10', 10_000);
  issueIds.weeklyAgain = await sentIssue(
    weekly.id,
    'weekly',
    '2025.11.10 全球AI新闻速递',
    '2025-11-10',
    10_001,
  );
  issueIds.draft = await sentIssue(weekly.id, 'weekly', 'A draft', '2025-11-11', 10_002, 'draft');
  issueIds.private = await sentIssue(hidden.id, 'hidden', 'Private issue', '2025-11-12', 10_003);
});
afterAll(async () => {
  await t?.app.close();
  await db?.close();
});

const get = (url: string, headers: Record<string, string> = {}) => t.app.inject({ url, headers });

describe('GET /archive', () => {
  it('lists sent issues of public lists, newest first, 20 a page, with title, date, list and intro line', async () => {
    const first = await get('/archive');
    expect(first.statusCode).toBe(200);
    expect(first.headers['cache-control']).toBe('public, max-age=300');
    const titles = [...first.body.matchAll(/<h2[^>]*><a href="([^"]+)">([^<]+)<\/a>/g)].map((m) => m[2]);
    expect(titles).toHaveLength(20);
    expect(titles.slice(0, 4)).toEqual([
      '2025.11.10 全球AI新闻速递',
      '2025.11.10 全球AI新闻速递',
      'Daily number 55',
      'Daily number 54',
    ]);
    expect(first.body).toContain('First line of the intro for Daily number 55.');
    expect(first.body).not.toContain('Second line of the intro.');
    expect(first.body).toContain('<time datetime="2025-10-25">2025-10-25</time>');
    expect(first.body).toContain('<a href="/lists/daily/">AI Daily</a>');
    expect(first.body).not.toMatch(/A draft|Private issue/);
    expect(first.body).toContain('rel="next" href="/archive?page=2"');

    const third = await get('/archive?page=3');
    const rest = [...third.body.matchAll(/<h2[^>]*><a href="[^"]+">([^<]+)<\/a>/g)].map((m) => m[1]);
    // 57 issues: 20 + 20 + 17.
    expect(rest).toEqual(Array.from({ length: 17 }, (_, k) => `Daily number ${17 - k}`));
    for (const url of ['/archive?page=4', '/archive?page=0', '/archive?page=x']) {
      expect((await get(url)).statusCode, url).toBe(404);
    }
  });
});

describe('GET /lists/<slug>/', () => {
  it('shows one list’s issues, a way to sign up for it, and its feed', async () => {
    const res = await get('/lists/weekly/');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(
      '<form method="get" action="/subscribe"><input type="hidden" name="list" value="weekly">',
    );
    expect(res.body).toContain(
      '<link rel="alternate" type="application/atom+xml" title="Weekly" href="/lists/weekly/feed.xml">',
    );
    expect(res.body).not.toContain('Daily number');
    expect(res.body).not.toContain('name="_csrf"');
    const form = await get('/subscribe?list=weekly');
    expect(form.body).toContain('<strong>Weekly</strong>');
    expect(form.body).not.toContain('AI Daily');
    // Without the final slash, the same page (the site answers no redirects).
    expect((await get('/lists/weekly')).body).toBe(res.body);
  });

  it('private and unknown lists have no archive and no feed', async () => {
    for (const url of ['/lists/hidden/', '/lists/hidden/feed.xml', '/lists/nope/', '/lists/nope/feed.xml']) {
      expect((await get(url)).statusCode, url).toBe(404);
    }
  });
});

describe('an issue’s readable URL', () => {
  it('is made of the day and the title; a second issue of the same day and title gets its id', async () => {
    const list = await get('/lists/weekly/');
    const paths = [...list.body.matchAll(/<h2[^>]*><a href="([^"]+)">/g)].map((m) => m[1]);
    expect(paths).toEqual([
      `/lists/weekly/2025-11-10-2025-11-10-全球ai新闻速递-${issueIds.weeklyAgain}`,
      '/lists/weekly/2025-11-10-2025-11-10-全球ai新闻速递',
    ]);
    const res = await get(encodeURI(paths[1]!));
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Headline of 2025.11.10 全球AI新闻速递');
  });

  it('carries canonical, Open Graph, Twitter and feed tags, no personal link and no script; 304 when unchanged', async () => {
    const path = '/lists/daily/2025-09-03-daily-number-3';
    const res = await get(path);
    expect(res.statusCode).toBe(200);
    const body = res.body;
    expect(body).toContain(`<link rel="canonical" href="https://news.example.org${path}">`);
    expect(body).toContain(
      '<link rel="alternate" type="application/atom+xml" title="AI Daily" href="https://news.example.org/lists/daily/feed.xml">',
    );
    expect(body).toContain('<meta property="og:title" content="Daily number 3">');
    expect(body).toContain('<meta property="og:description" content="Preheader of Daily number 3">');
    expect(body).toContain(`<meta property="og:url" content="https://news.example.org${path}">`);
    expect(body).toContain('<meta name="twitter:card" content="summary">');
    expect(body).toContain('<meta name="twitter:description" content="Preheader of Daily number 3">');
    expect(body).not.toMatch(/\/unsubscribe\/|\/preferences\/|<script/i);
    expect(String(res.headers['content-security-policy'])).not.toContain('script-src');
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    const etag = String(res.headers.etag);
    const lastModified = String(res.headers['last-modified']);
    expect(lastModified).toBe(new Date(Date.UTC(2025, 10, 1, 0, 30)).toUTCString());
    expect((await get(path, { 'if-none-match': etag })).statusCode).toBe(304);
    expect((await get(path, { 'if-modified-since': lastModified })).statusCode).toBe(304);
    expect((await get(path, { 'if-none-match': '"other"' })).statusCode).toBe(200);
    // The old id URL keeps working.
    expect((await get(`/archive/${issueIds.daily3}`)).statusCode).toBe(200);
    // Drafts, private issues and near misses are not found.
    for (const url of [
      '/lists/weekly/2025-11-11-a-draft',
      '/lists/hidden/2025-11-12-private-issue',
      '/lists/daily/2025-09-03-daily-number-4',
      '/lists/daily/junk',
    ]) {
      expect((await get(url)).statusCode, url).toBe(404);
    }
  });
});

describe('the old URL /archive/:id', () => {
  it('is the same page as the readable URL: canonical, Open Graph and Twitter tags name the readable URL', async () => {
    const readable = '/lists/daily/2025-09-04-daily-number-4';
    const canonical = `https://news.example.org${readable}`;
    const old = await get(`/archive/${issueIds.daily4}`);
    expect(old.statusCode).toBe(200);
    const body = old.body;
    expect(body).toContain(`<link rel="canonical" href="${canonical}">`);
    expect(body).toContain(`<meta property="og:url" content="${canonical}">`);
    expect(body).toContain('<meta property="og:type" content="article">');
    expect(body).toContain('<meta property="og:title" content="Daily number 4">');
    expect(body).toContain('<meta property="og:description" content="Preheader of Daily number 4">');
    expect(body).toContain(
      `<meta property="article:published_time" content="${new Date(Date.UTC(2025, 10, 1, 0, 40)).toISOString()}">`,
    );
    expect(body).toContain('<meta name="twitter:card" content="summary">');
    expect(body).toContain('<meta name="twitter:title" content="Daily number 4">');
    expect(body).toContain('<meta name="twitter:description" content="Preheader of Daily number 4">');
    expect(body).toContain(
      '<link rel="alternate" type="application/atom+xml" title="AI Daily" href="https://news.example.org/lists/daily/feed.xml">',
    );
    expect(body).not.toMatch(/\/unsubscribe\/|\/preferences\/|<script/i);
    expect(String(old.headers['content-security-policy'])).not.toContain('script-src');
    expect(old.headers['cache-control']).toBe('public, max-age=300');
    // The same document as the readable URL, so the same validators.
    const page = await get(readable);
    expect(body).toBe(page.body);
    expect(old.headers.etag).toBe(page.headers.etag);
    expect(
      (await get(`/archive/${issueIds.daily4}`, { 'if-none-match': String(old.headers.etag) })).statusCode,
    ).toBe(304);
    for (const id of [issueIds.draft, issueIds.private, 99_999]) {
      expect((await get(`/archive/${id}`)).statusCode, String(id)).toBe(404);
    }
  });
});

describe('GET /lists/<slug>/feed.xml', () => {
  it('is Atom 1.0 of the last 50 issues, full content, valid dates, unique and stable ids; 304 when unchanged', async () => {
    const res = await get('/lists/daily/feed.xml');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/atom+xml; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    const xml = res.body;
    const feed = parseFeed(xml);
    expect(feed.meta.type).toBe('atom');
    expect(feed.title).toBe('AI Daily');
    expect(feed.items).toHaveLength(50);
    expect(feed.items[0]!.title).toBe('Daily number 55');
    expect(feed.items[49]!.title).toBe('Daily number 6');
    expect(feed.items[0]!.url).toBe('https://news.example.org/lists/daily/2025-10-25-daily-number-55');
    expect(feed.items[0]!.content).toContain('Headline of Daily number 55');
    expect(feed.items[0]!.updated?.toISOString()).toBe(new Date(Date.UTC(2025, 10, 1, 0, 550)).toISOString());
    const ids = feed.items.map((i) => i.id);
    expect(new Set(ids).size).toBe(50);

    // Atom (RFC 4287) rules the parser is lenient about, checked on the document itself.
    expect(xml).toMatch(
      /^<\?xml version="1.0" encoding="utf-8"\?>\s*<feed xmlns="http:\/\/www.w3.org\/2005\/Atom">/,
    );
    const head = xml.slice(0, xml.indexOf('<entry>'));
    for (const element of ['id', 'title', 'updated'])
      expect(head, element).toMatch(new RegExp(`<${element}>[^<]+</${element}>`));
    expect(head).toMatch(/<author>\s*<name>[^<]+<\/name>/);
    expect(head).toContain('<link rel="self" href="https://news.example.org/lists/daily/feed.xml"');
    const entries = xml.split('<entry>').slice(1);
    expect(entries).toHaveLength(50);
    for (const entry of entries) {
      expect(entry).toMatch(/<id>tag:news\.example\.org,2025:digestmail\/issues\/\d+<\/id>/);
      expect(entry).toMatch(/<title type="html"><!\[CDATA\[[^\]]+\]\]><\/title>|<title[^>]*>[^<]+<\/title>/);
      expect(entry).toMatch(/<link href="https:\/\/news\.example\.org\/lists\/daily\/[^"]+"/);
      expect(entry).toMatch(/<content type="html">/);
      expect(entry).not.toMatch(/\/unsubscribe\/|\/preferences\//);
    }
    const dates = [...xml.matchAll(/<(updated|published)>([^<]+)<\/\1>/g)].map((m) => m[2]!);
    expect(dates.length).toBe(1 + 50 * 2);
    for (const date of dates)
      expect(date).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);

    const etag = String(res.headers.etag);
    expect((await get('/lists/daily/feed.xml', { 'if-none-match': etag })).statusCode).toBe(304);
    expect(
      (await get('/lists/daily/feed.xml', { 'if-modified-since': String(res.headers['last-modified']) }))
        .statusCode,
    ).toBe(304);

    // A new issue: a new ETag, the new entry first, every earlier id unchanged. The server re-reads
    // the archive's version every few seconds (no query per request): wait for that state.
    await sentIssue(dailyId, 'daily', 'Daily number 56', '2025-10-26', 9_999);
    let after = await get('/lists/daily/feed.xml', { 'if-none-match': etag });
    for (const deadline = Date.now() + 60_000; after.statusCode === 304 && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await get('/lists/daily/feed.xml', { 'if-none-match': etag });
    }
    expect(after.statusCode).toBe(200);
    const updated = parseFeed(after.body);
    expect(updated.items[0]!.title).toBe('Daily number 56');
    expect(updated.items.slice(1).map((i) => i.id)).toEqual(ids.slice(0, 49));
  });
});

describe('in a browser', () => {
  it('opens /archive, follows an issue, and finds no personal link and no script', async () => {
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const response = await page.goto(`${address}/archive`);
      expect(response?.status()).toBe(200);
      await page.getByRole('link', { name: 'Daily number 55' }).click();
      await page.waitForURL(/\/lists\/daily\/2025-10-25-daily-number-55$/);
      await expect(page.getByText('Headline of Daily number 55').first().isVisible()).resolves.toBe(true);
      expect(await page.locator('script').count()).toBe(0);
      const hrefs = await page
        .locator('a[href]')
        .evaluateAll((links) => links.map((a) => (a as unknown as { href: string }).href));
      expect(hrefs.length).toBeGreaterThan(0);
      expect(hrefs.filter((h) => /\/(unsubscribe|preferences)\/|[?&](token|t)=/.test(h))).toEqual([]);
      expect(await page.locator('link[rel="canonical"]').getAttribute('href')).toBe(
        'https://news.example.org/lists/daily/2025-10-25-daily-number-55',
      );
    } finally {
      await browser.close();
    }
  });
});
