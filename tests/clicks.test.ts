import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { simpleParser } from 'mailparser';
import { dkimVerify } from 'mailauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClicksRepository } from '../src/clicks/clicks.repository.ts';
import { ClicksService } from '../src/clicks/clicks.service.ts';
import { firstVerdict } from '../src/clicks/clicks.scanner.ts';
import type { Config } from '../src/config/config.loader.ts';
import { startSending } from '../src/issues/issues.runtime.ts';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { EditorsService } from '../src/editors/editors.service.ts';
import { IssuesService } from '../src/issues/issues.service.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { SubscribersService } from '../src/subscriptions/subscribers.service.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { startTestApp, TEST_SECRET } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const DIGEST = readFileSync(new URL('./fixtures/digests/zh-daily.md', import.meta.url), 'utf8');
const BROWSER =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const PUBLIC = 'http://127.0.0.1:3000';

let database: TestDatabase;
let app: FastifyInstance;
let config: Config;
let outbox: string;
let issueId: number;
let publicKey: KeyObject;
/** The HTML and text each reader got, by address. */
const mail = new Map<string, { html: string; text: string; raw: Buffer }>();

function dkimRecord(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString('base64')}`;
}

async function clickLinks(address: string): Promise<string[]> {
  const links = [...mail.get(address)!.html.matchAll(/href="(http:\/\/127\.0\.0\.1:3000\/c\/[^"]+)"/g)].map(
    (m) => m[1]!,
  );
  return [...new Set(links)];
}

function click(url: string, options: { method?: 'GET' | 'HEAD'; agent?: string } = {}) {
  return app.inject({
    method: options.method ?? 'GET',
    url: new URL(url).pathname,
    headers: { 'user-agent': options.agent ?? BROWSER },
  });
}

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  outbox = mkdtempSync(join(tmpdir(), 'dm-clicks-'));
  const pair = generateKeyPairSync('ed25519');
  publicKey = pair.publicKey;
  ({ app, config } = await startTestApp(database, {
    PUBLIC_URL: PUBLIC,
    MAIL_URL: `outbox:${outbox}`,
    MAIL_FROM: 'AI Daily <news@example.org>',
    DKIM_DOMAIN: 'example.org',
    DKIM_SELECTOR: 'dm1',
    DKIM_PRIVATE_KEY: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    SEND_RATE: '1000',
    METRICS_TOKEN: 'clicks-metrics-token-0123456789',
  }));
  await new ListsService(database.db).create({ slug: 'ai', name: 'AI 日报', trackClicks: true });
  const subscribers = new SubscribersService(database.db);
  for (const email of ['reader@example.org', 'optout@example.org', 'scanned@example.org']) {
    await subscribers.add({ email, listSlug: 'ai' });
  }
  await database.db
    .updateTable('subscribers')
    .set({ track_clicks: false })
    .where('email', '=', 'optout@example.org')
    .execute();

  const issues = new IssuesService(database.db, config);
  const list = await new ListsService(database.db).require('ai');
  issueId = (await issues.createFromDigest(parseDigest(DIGEST, 'zh-daily.md'), list, {
    status: 'draft',
    sendAt: null,
  }))!;
  await issues.send(String(issueId));
  const sending = await startSending(database.db, config, { scheduler: false });
  try {
    // wait for the state, not for a time: the worker marks the issue sent once every delivery is done
    for (;;) {
      const { status } = await database.db
        .selectFrom('issues')
        .select('status')
        .where('id', '=', issueId)
        .executeTakeFirstOrThrow();
      if (status === 'sent') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await sending.stop();
  }
  for (const file of readdirSync(outbox).filter((f) => f.endsWith('.eml'))) {
    const raw = readFileSync(join(outbox, file));
    const parsed = await simpleParser(raw);
    const to = (Array.isArray(parsed.to) ? parsed.to[0] : parsed.to)!.value[0]!.address!;
    mail.set(to, { html: String(parsed.html), text: parsed.text ?? '', raw });
  }
});

afterAll(async () => {
  await app?.close();
  await database?.close();
  if (outbox) rmSync(outbox, { recursive: true, force: true });
});

describe('tracked links in the message', () => {
  it('a reader of a list that counts clicks gets redirect links in the HTML, the original URLs in the text, and a footer that says so', () => {
    const reader = mail.get('reader@example.org')!;
    expect(reader.html).toContain(`${PUBLIC}/c/`);
    expect(reader.html).not.toContain('href="https://www.example-robotics.com/news/humanoid-assembly-pilot"');
    expect(reader.html).toContain('本列表会统计各条新闻的点击');
    expect(reader.text).toContain('https://www.example-robotics.com/news/humanoid-assembly-pilot');
    expect(reader.text).not.toContain('/c/');
  });

  it('a reader who turned counting off gets the original URLs and no notice', () => {
    const optout = mail.get('optout@example.org')!;
    expect(optout.html).not.toContain('/c/');
    expect(optout.html).toContain('href="https://www.example-robotics.com/news/humanoid-assembly-pilot"');
    expect(optout.html).not.toContain('本列表会统计各条新闻的点击');
  });

  it('DKIM still verifies on a tracked message (mailauth)', async () => {
    const result = await dkimVerify(mail.get('reader@example.org')!.raw, {
      resolver: async (name: string, type: string) => {
        if (type === 'TXT' && name === 'dm1._domainkey.example.org') return [[dkimRecord(publicKey)]];
        throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
      },
    });
    expect(result.results.map((r) => r.status.result)).toEqual(['pass']);
  });

  it('the web version carries no tracked link', async () => {
    const page = await app.inject({ method: 'GET', url: `/archive/${issueId}` });
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain('/c/');
  });
});

describe('counting clicks', () => {
  it('a reader who clicks two stories is counted once per story, however often they click', async () => {
    const [first, second] = await clickLinks('reader@example.org');
    for (let i = 0; i < 3; i++) {
      const res = await click(first!);
      expect(res.statusCode).toBe(302);
      expect(res.headers.location).toBe('https://www.example-robotics.com/news/humanoid-assembly-pilot');
    }
    expect((await click(second!)).statusCode).toBe(302);
    const report = await new ClicksService(database.db).report(issueId);
    expect(report.human).toBe(1);
    expect(report.links.find((l) => l.position === 1)).toMatchObject({ human: 1, scanner: 0 });
    expect(report.links.find((l) => l.position === 2)).toMatchObject({ human: 1, scanner: 0 });
    const metrics = (
      await app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: 'Bearer clicks-metrics-token-0123456789' },
      })
    ).body;
    expect(metrics).toMatch(/^digestmail_clicks_total\{kind="human"\} 2$/m);
  });

  it('every link opened in a burst right after delivery is a scanner, not a reader', async () => {
    const links = await clickLinks('scanned@example.org');
    expect(links.length).toBeGreaterThanOrEqual(6);
    for (const link of links) expect((await click(link)).statusCode).toBe(302);
    const rows = await database.db
      .selectFrom('clicks as c')
      .innerJoin('deliveries as d', 'd.id', 'c.delivery_id')
      .select(['c.kind'])
      .where('d.email', '=', 'scanned@example.org')
      .execute();
    expect(rows.length).toBe(links.length);
    expect(rows.every((r) => r.kind === 'scanner')).toBe(true);
    const report = await new ClicksService(database.db).report(issueId);
    expect(report.human).toBe(1);
    expect(report.scanner).toBe(1);
  });

  it('HEAD requests and known scanner agents are scanners', () => {
    expect(firstVerdict('HEAD', BROWSER)).toBe('scanner');
    expect(firstVerdict('GET', 'Mozilla/5.0 (compatible; Mimecast URL Protect)')).toBe('scanner');
    expect(firstVerdict('GET', 'BingPreview/1.0b')).toBe('scanner');
    expect(firstVerdict('GET', '')).toBe('scanner');
    expect(firstVerdict('GET', BROWSER)).toBe('human');
  });

  it('a tampered or unknown link never redirects', async () => {
    const [first] = await clickLinks('reader@example.org');
    const path = new URL(first!).pathname;
    const token = path.split('/')[2]!;
    const tampered = `${token.slice(0, -3)}${token.endsWith('A') ? 'BBB' : 'AAA'}`;
    for (const url of [
      `/c/${tampered}/1`,
      `/c/${token}/999`,
      `/c/${token}/0`,
      `/c/not-a-token/1`,
      `/c/${token}/https:%2F%2Fevil.example`,
    ]) {
      const res = await app.inject({ method: 'GET', url, headers: { 'user-agent': BROWSER } });
      expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(res.headers.location, url).toBeUndefined();
    }
  });

  it('issue clicks and the console issue page show the counts', async () => {
    const env = { DATABASE_URL: database.url, SECRET_KEY: TEST_SECRET };
    const json = await runCliInProcess(['issue', 'clicks', String(issueId), '--json'], env);
    expect(json.stderr).toBe('');
    const report = JSON.parse(json.stdout) as {
      issue: number;
      delivered: number;
      human: number;
      scanner: number;
      links: { position: number; url: string; title: string; human: number; scanner: number }[];
    };
    expect(report).toMatchObject({ issue: issueId, delivered: 3, human: 1, scanner: 1 });
    expect(report.links[0]).toMatchObject({
      position: 1,
      url: 'https://www.example-robotics.com/news/humanoid-assembly-pilot',
      title: '某机器人公司宣布人形机器人进入汽车总装线试运行',
      human: 1,
      scanner: 1,
    });
    const table = await runCliInProcess(['issue', 'clicks', String(issueId)], env);
    expect(table.stdout).toContain('1 of 3 readers clicked');

    const editors = new EditorsService(database.db);
    await editors.add({ email: 'ed@example.org' }, { cli: 'test' });
    const link = await editors.signInLinkFor('ed@example.org', PUBLIC, { cli: 'test' });
    const session = await editors.signIn(link.slice(link.lastIndexOf('/') + 1));
    const page = await app.inject({
      method: 'GET',
      url: `/console/issues/${issueId}`,
      headers: { cookie: `dm_console=${session!.sessionId}` },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body, page.body.slice(0, 3000)).toContain('id="clicks"');
    expect(page.body).toContain('data-clicks="1">1<');
  });

  it('after the retention period rows fold into totals and reports read the same', async () => {
    const clicks = new ClicksService(database.db);
    const before = await clicks.report(issueId);
    await sql`update clicks set clicked_at = clicked_at - interval '100 days'`.execute(database.db);
    expect(await clicks.fold(90)).toBeGreaterThan(0);
    expect(
      (await sql<{ n: number }>`select count(*)::int as n from clicks`.execute(database.db)).rows[0]!.n,
    ).toBe(0);
    expect(await clicks.report(issueId)).toEqual(before);
  });
});

describe('the burst rule, as scanners click', () => {
  /** A delivery of the issue made for one test, sent `secondsAgo` seconds ago, and its click URLs. */
  async function delivery(secondsAgo: number): Promise<{ id: number; urls: string[] }> {
    const row = await sql<{ id: string }>`
      insert into deliveries (issue_id, email, status, sent_at)
      values (${issueId}, ${`burst-${secondsAgo}-${Math.random()}@example.org`}, 'sent', now() - make_interval(secs => ${secondsAgo}))
      returning id`.execute(database.db);
    const id = Number(row.rows[0]!.id);
    const token = new TokenSigner(TEST_SECRET).sign('click', { i: issueId, d: id });
    const positions = await database.db
      .selectFrom('issue_links')
      .select('position')
      .where('issue_id', '=', issueId)
      .orderBy('position')
      .execute();
    return { id, urls: positions.map((p) => `${PUBLIC}/c/${token}/${p.position}`) };
  }

  async function kinds(deliveryId: number): Promise<string[]> {
    const rows = await database.db
      .selectFrom('clicks')
      .select('kind')
      .where('delivery_id', '=', deliveryId)
      .execute();
    return rows.map((r) => r.kind);
  }

  it('every link opened at once right after delivery (a scanner opens them in parallel) is a burst', async () => {
    const { id, urls } = await delivery(5);
    expect(urls.length).toBeGreaterThanOrEqual(2);
    const answers = await Promise.all(urls.map((url) => click(url)));
    expect(answers.map((a) => a.statusCode)).toEqual(urls.map(() => 302));
    const recorded = await kinds(id);
    expect(recorded.length).toBe(urls.length);
    expect(recorded.every((k) => k === 'scanner')).toBe(true);
  });

  it('the burst is decided by whichever click completes it, a HEAD request too', async () => {
    const { id, urls } = await delivery(5);
    for (const url of urls.slice(0, -1)) expect((await click(url)).statusCode).toBe(302);
    expect(await kinds(id)).toEqual(urls.slice(0, -1).map(() => 'human'));
    expect((await click(urls.at(-1)!, { method: 'HEAD' })).statusCode).toBe(302);
    expect((await kinds(id)).every((k) => k === 'scanner')).toBe(true);
  });

  it('two batches with the same messages in opposite orders wait for each other instead of deadlocking, and catch both bursts', async () => {
    const [a, b] = [await delivery(5), await delivery(5)];
    const linkCount = a.urls.length;
    const clicksOf = (d: { id: number }) =>
      Array.from({ length: linkCount }, (_, i) => ({
        deliveryId: d.id,
        issueId,
        position: i + 1,
        kind: 'human' as const,
        links: linkCount,
      }));
    const repo = new ClicksRepository(database.db);
    const waitingForLocks = async (n: number) => {
      for (;;) {
        const rows = await sql<{ n: number }>`
          select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`.execute(
          database.db,
        );
        if (rows.rows[0]!.n >= n) return;
        await new Promise((r) => setImmediate(r));
      }
    };
    const lockKey = (id: number) => id % 2147483647;
    // Another transaction holds b's lock. The batch [b…, a…] asks for it first and queues; then the
    // batch [a…, b…] starts. Taking locks click by click, the second would hold a while waiting for
    // b, and the first, once given b, would wait for a: a deadlock, one batch lost. Taking them all
    // first, in one order, they only wait.
    let batches: Promise<unknown[]>[] = [];
    await database.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(6515819, ${lockKey(b.id)}::integer)`.execute(trx);
      const bFirst = repo.recordMany([...clicksOf(b), ...clicksOf(a)], 120);
      await waitingForLocks(1);
      const aFirst = repo.recordMany([...clicksOf(a), ...clicksOf(b)], 120);
      await waitingForLocks(2);
      batches = [bFirst, aFirst];
    });
    const results = await Promise.all(batches);
    expect(results.flat().filter((r) => r === 'burst')).toHaveLength(2);
    for (const d of [a, b]) {
      const recorded = await kinds(d.id);
      expect(recorded.length).toBe(linkCount);
      expect(recorded.every((k) => k === 'scanner')).toBe(true);
    }
  });

  it('every link opened after the window is a reader, not a burst', async () => {
    const { id, urls } = await delivery(600);
    await Promise.all(urls.map((url) => click(url)));
    const recorded = await kinds(id);
    expect(recorded.length).toBe(urls.length);
    expect(recorded.every((k) => k === 'human')).toBe(true);
  });

  it('the totals /metrics reads equal counting the clicks row by row, bursts included, and stay put when old clicks are folded', async () => {
    const counted = async () => {
      const rows = await sql<{ human: number; scanner: number }>`
        select ((select count(*) from clicks where kind = 'human') + (select coalesce(sum(human), 0) from click_totals))::int as human,
               ((select count(*) from clicks where kind = 'scanner') + (select coalesce(sum(scanner), 0) from click_totals))::int as scanner
      `.execute(database.db);
      return rows.rows[0]!;
    };
    const clicks = new ClicksService(database.db);
    const before = await counted();
    expect(before.scanner).toBeGreaterThan(0);
    expect(await clicks.totals()).toEqual(before);
    await sql`update clicks set clicked_at = clicked_at - interval '100 days'`.execute(database.db);
    expect(await clicks.fold(90)).toBeGreaterThan(0);
    expect(await counted()).toEqual(before);
    expect(await clicks.totals()).toEqual(before);
    // folded into one row per kind
    const rows = await sql<{ n: number }>`select count(*)::int as n from click_counts`.execute(database.db);
    expect(rows.rows[0]!.n).toBeLessThanOrEqual(2);
  });
});
