/**
 * npm run bench:http — the readers' routes of a real `digestmail serve` process against the real
 * PostgreSQL, driven by autocannon:
 *   1. POST /unsubscribe/:token, the RFC 8058 one-click body, each request a different subscriber;
 *   2. POST /subscribe with a distinct address per request, from distinct client addresses (sent as
 *      X-Forwarded-For with TRUST_PROXY on, as many readers behind a proxy; limits raised for the
 *      run), each one writing a subscriber, a pending subscription, rate-limit counters and an outbox
 *      row. (From one client address every signup would queue on that address's counter row.)
 * Prints requests/s and latency percentiles for each, then counts rows to show every accepted request
 * was stored. The outbox sender runs in the server as in production (sending over SMTP to Postfix's
 * smtp-sink in its own process), so confirmation mail is rendered and sent while the signups come in.
 *
 * Each route runs twice: alone, then while a Prometheus-like scraper fetches /metrics (with its
 * METRICS_TOKEN) ten times a second, with BENCH_DELIVERIES (default 1,000,000) deliveries and
 * their bounce/complaint events in the database; the scrapes' latencies are printed too, and then
 * those of 100 scrapes made one at a time with nothing else running (what a scrape itself takes,
 * aim < 10 ms). Then the
 * public archive (feed, feed with If-None-Match, an issue page) and a counted link (`GET /c/…`).
 *
 * The yardstick (issue 15): before serve starts, a bare Fastify route doing one indexed UPDATE on
 * the same database (bench/yardstick.server.mjs, its own process, same pool size and driver) is
 * driven the same way. Every route's row of the final table shows requests/s, p99, the CPU each
 * request cost (the serving process and the PostgreSQL backends, from /proc) and its ratio to the
 * yardstick's: on a busy machine requests/s fall, but CPU per request and the ratios hold.
 *
 * BENCH_SECONDS (default 10) and BENCH_CONNECTIONS (default 32) tune the run; BENCH_DATABASE_URL the
 * server (default local); BENCH_ROUTES (e.g. `yardstick,one-click,click`) runs only some routes;
 * BENCH_PROFILE=<dir> starts serve with --cpu-prof writing its profile there.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { type Kysely, sql } from 'kysely';
import { DeliveryStatsRepository } from '../src/bounces/delivery-stats.repository.ts';
import { loadConfig } from '../src/config/config.loader.ts';
import type { Database } from '../src/db/db.types.ts';
import { signUnsubscribe } from '../src/core/reader-tokens.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { freePort, startServe } from '../tests/helpers/serve.ts';
import { fmt, freshMigratedDatabase, requirePostfix, startSmtpSink } from './bench.util.ts';

interface AutocannonResult {
  duration: number;
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
  '3xx': number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
/** Enough readers that every one-click request of both runs unsubscribes someone new. */
const READERS = 300_000;
/** Deliveries of past issues in the database, which a scrape of /metrics used to count. */
const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 1_000_000);
const METRICS_TOKEN = 'bench-metrics-token-0123456789';
const SCRAPES_PER_SECOND = 10;

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * The machine is shared and its load varies, so besides requests/s the bench reports what a request
 * costs: CPU time of the serving process and of the PostgreSQL backends serving its pool, per request.
 */
interface Measured {
  result: AutocannonResult;
  serveMs: number;
  postgresMs: number;
}

async function measure(
  servePid: number,
  db: Kysely<Database>,
  run: () => Promise<AutocannonResult>,
  /** Work the requests left behind that belongs to their cost (a signup's confirmation mail). */
  settle?: () => Promise<unknown>,
): Promise<Measured> {
  const backends = async () =>
    (
      await sql<{
        pid: number;
      }>`select pid from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`.execute(
        db,
      )
    ).rows.map((r) => r.pid);
  const pids = await backends();
  const serveBefore = cpuSeconds(servePid);
  const pgBefore = new Map(pids.map((pid) => [pid, cpuSeconds(pid)]));
  const result = await run();
  if (settle) await settle();
  const serveAfter = cpuSeconds(servePid);
  // Client backends only (autovacuum's work on the seeded tables is not a request's). Backends that
  // ended during the run (none: pools keep theirs) would be missed; new ones count from 0.
  let pg = 0;
  for (const pid of await backends()) pg += cpuSeconds(pid) - (pgBefore.get(pid) ?? 0);
  const served = Math.max(1, result['2xx'] + result['3xx']);
  return { result, serveMs: ((serveAfter - serveBefore) * 1000) / served, postgresMs: (pg * 1000) / served };
}

/** One row of the final table. */
interface Row {
  name: string;
  run: Measured;
  /** Requests answered as asked (2xx, or the 3xx the route is for). */
  ok: number;
}
const rows: Row[] = [];

/** A distinct client address per signup, as a real burst of readers would have. */
function clientAddress(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function report(name: string, run: Measured, ok = run.result['2xx']): void {
  const r = run.result;
  console.log(
    `${name.padEnd(28)} ${fmt(ok / r.duration).padStart(7)} req/s  p50 ${fmt(r.latency.p50, 1)} ms  p90 ${fmt(r.latency.p90, 1)} ms  p99 ${fmt(r.latency.p99, 1)} ms  max ${fmt(r.latency.max)} ms  (${fmt(ok)} ok, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts)`,
  );
  console.log(
    `${''.padEnd(28)} CPU per request: serving process ${fmt(run.serveMs, 3)} ms, PostgreSQL backends ${fmt(run.postgresMs, 3)} ms`,
  );
  rows.push({ name, run, ok });
}

/** The summary: every route beside the yardstick of the same run. */
function printTable(): void {
  const yardstick = rows.find((r) => r.name.startsWith('yardstick'));
  const cpu = (r: Row) => r.run.serveMs + r.run.postgresMs;
  const rate = (r: Row) => r.ok / r.run.result.duration;
  const head = [
    'route'.padEnd(30),
    'req/s'.padStart(7),
    'p99 ms'.padStart(7),
    'serve ms'.padStart(9),
    'PG ms'.padStart(7),
    'CPU ms'.padStart(7),
    'CPU ×'.padStart(6),
    'req/s ×'.padStart(8),
  ].join(' ');
  console.log(`\n${head}\n${'-'.repeat(head.length)}`);
  for (const r of rows) {
    console.log(
      [
        r.name.trim().padEnd(30),
        fmt(rate(r)).padStart(7),
        fmt(r.run.result.latency.p99, 1).padStart(7),
        fmt(r.run.serveMs, 3).padStart(9),
        fmt(r.run.postgresMs, 3).padStart(7),
        fmt(cpu(r), 3).padStart(7),
        (yardstick ? fmt(cpu(r) / cpu(yardstick), 2) : '-').padStart(6),
        (yardstick ? fmt(rate(r) / rate(yardstick), 2) : '-').padStart(8),
      ].join(' '),
    );
  }
  console.log(
    `CPU ms = serving process + PostgreSQL backends, per request answered; × = ratio to the yardstick (a bare Fastify route doing one indexed UPDATE) of this run; load average at the end ${loadavg()
      .map((l) => fmt(l, 1))
      .join(' ')}, ${cpus().length} cores`,
  );
}

interface Scrapes {
  ms: number[];
  failed: number;
}

/**
 * Runs `work` while a scraper fetches /metrics SCRAPES_PER_SECOND times a second, one at a time
 * (a scrape that takes longer than its slot delays the next, as Prometheus does).
 */
/** One scrape of /metrics as Prometheus makes it: its time in ms, or undefined when it failed. */
async function scrapeOnce(base: string): Promise<number | undefined> {
  const started = performance.now();
  try {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const body = await res.text();
    if (res.status !== 200 || !body.includes('digestmail_messages_sent_total')) return undefined;
    return performance.now() - started;
  } catch {
    return undefined;
  }
}

/**
 * Runs `work` while a scraper fetches /metrics SCRAPES_PER_SECOND times a second, one at a time
 * (a scrape that takes longer than its slot delays the next, as Prometheus does).
 */
async function whileScraping<T>(base: string, work: () => Promise<T>): Promise<{ run: T; scrapes: Scrapes }> {
  const scrapes: Scrapes = { ms: [], failed: 0 };
  let running = true;
  const scraper = (async () => {
    while (running) {
      const started = performance.now();
      const ms = await scrapeOnce(base);
      if (ms === undefined) scrapes.failed++;
      else scrapes.ms.push(ms);
      const wait = 1000 / SCRAPES_PER_SECOND - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  try {
    return { run: await work(), scrapes };
  } finally {
    running = false;
    await scraper;
  }
}

/** Waits until the server's outbox sender has sent every queued mail; returns the ms it took. */
async function outboxDrained(db: Kysely<Database>): Promise<number> {
  const started = performance.now();
  for (;;) {
    const row = await sql<{ n: number }>`
      select count(*)::int as n from outbox where status in ('pending', 'sending')`.execute(db);
    if (row.rows[0]!.n === 0) return performance.now() - started;
    if (performance.now() - started > 300_000)
      throw new Error('the outbox sender did not drain its backlog in 5 minutes');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * What a scrape itself takes (issue 11: under 10 ms with 1 M deliveries): `n` scrapes one after
 * another with nothing else running. While the routes above saturate both cores, a scrape also
 * waits its turn behind their requests; those latencies are printed beside each run, not judged.
 */
async function scrapesAlone(base: string, n: number): Promise<Scrapes> {
  const scrapes: Scrapes = { ms: [], failed: 0 };
  for (let i = 0; i < n; i++) {
    const ms = await scrapeOnce(base);
    if (ms === undefined) scrapes.failed++;
    else scrapes.ms.push(ms);
  }
  return scrapes;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function reportScrapes(scrapes: Scrapes): void {
  const sorted = [...scrapes.ms].sort((a, b) => a - b);
  console.log(
    `${''.padEnd(28)} GET /metrics: ${scrapes.ms.length} scrapes (${scrapes.failed} failed), p50 ${fmt(percentile(sorted, 0.5), 1)} ms, p99 ${fmt(percentile(sorted, 0.99), 1)} ms, max ${fmt(sorted.at(-1) ?? Number.NaN, 1)} ms (${fmt(DELIVERIES)} deliveries in the database)`,
  );
}

/**
 * What one scrape costs the database, apart from HTTP and the machine's load: the read /metrics does
 * now (the kept counts), beside the count over the deliveries it did before, in the same run.
 */
async function timeStatsRead(db: Kysely<Database>): Promise<void> {
  const stats = new DeliveryStatsRepository(db);
  const time = async (runs: number, work: () => Promise<unknown>) => {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await work();
      ms.push(performance.now() - started);
    }
    return percentile(
      ms.sort((a, b) => a - b),
      0.5,
    );
  };
  const kept = await time(50, () => stats.read());
  const counted = await time(3, () =>
    sql`select status, count(*), count(sent_at) from deliveries group by status`.execute(db),
  );
  console.log(
    `metrics read, ${fmt(DELIVERIES)} deliveries: kept counts ${fmt(kept, 2)} ms (median of 50); counting the deliveries (the old scrape's main query) ${fmt(counted, 1)} ms (median of 3)\n`,
  );
}

/**
 * Fifty sent issues of the bench list, each the example daily compiled once (about 25 KB of HTML),
 * as the archive and the feed show them. Returns the path of the newest issue's page.
 */
async function seedArchive(db: Kysely<Database>, listId: number): Promise<{ path: string; entries: number }> {
  const source = readFileSync(new URL('../examples/digests/2026-11-30-ai-daily.md', import.meta.url), 'utf8');
  const config = loadConfig({
    NODE_ENV: 'production',
    SECRET_KEY: SECRET,
    PUBLIC_URL: 'https://news.example.org',
  });
  const template = await compileIssue(parseDigest(source, 'bench.md'), {
    config,
    list: { slug: 'bench', name: 'Bench' },
  });
  const entries = 50;
  const dayOf = (i: number) => new Date(Date.UTC(2026, 9, i)).toISOString().slice(0, 10);
  for (let i = 1; i <= entries; i++) {
    await db
      .insertInto('issues')
      .values({
        list_id: listId,
        status: 'sent',
        subject: `Bench issue ${i}`,
        title: `Bench issue ${i}`,
        digest_source: source,
        digest_hash: `bench-${i}`,
        // One issue a day, as a daily's archive is.
        template: JSON.stringify({ ...template, day: dayOf(i) }),
        started_at: new Date(Date.UTC(2026, 9, i, 8)),
      })
      .execute();
  }
  return { path: `/lists/bench/${dayOf(entries)}-bench-issue-${entries}`, entries };
}

const ROUTES = new Set(
  (process.env.BENCH_ROUTES ?? 'yardstick,one-click,signup,archive,click').split(',').map((r) => r.trim()),
);
const runs = (route: string) => ROUTES.has(route);

/** Starts the yardstick (bench/yardstick.server.mjs) in its own process; resolves once it listens. */
function startYardstick(
  databaseUrl: string,
): Promise<{ pid: number; url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [new URL('./yardstick.server.mjs', import.meta.url).pathname], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: '0', DATABASE_POOL_SIZE: '16' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match)
        resolve({
          pid: child.pid!,
          url: match[1]!,
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
          },
        });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the yardstick exited with ${code}:\n${output}`)));
  });
}

async function main(): Promise<void> {
  requirePostfix('bench:http', ['/usr/sbin/smtp-sink']);
  const seedStarted = performance.now();
  const { url, handle } = await freshMigratedDatabase('dm_bench_http');
  const db = handle.db;
  const list = await db
    .insertInto('lists')
    .values({ slug: 'bench', name: 'Bench' })
    .returning('id')
    .executeTakeFirstOrThrow();
  // Confirmed readers for the one-click run (ids 1..READERS).
  await sql`insert into subscribers (email) select 'reader' || g || '@example.com' from generate_series(1, ${READERS}::int) g`.execute(
    db,
  );
  await sql`insert into subscriptions (subscriber_id, list_id, status, confirmed_at)
            select id, ${list.id}, 'confirmed', now() from subscribers`.execute(db);
  // The yardstick's table: as many rows as readers, one primary key, nothing else.
  await sql`create table bench_yardstick (id integer primary key, hits integer not null default 0, updated_at timestamptz)`.execute(
    db,
  );
  await sql`insert into bench_yardstick (id) select g from generate_series(1, ${READERS}::int) g`.execute(db);
  // Past issues: DELIVERIES deliveries, as a finished send leaves them, and their events. Sent an
  // hour ago: most clicks come after the scanners' burst window (the burst rule is tested, not timed).
  const past = await db
    .insertInto('issues')
    .values({
      list_id: list.id,
      subject: 'Past',
      title: 'Past',
      digest_source: '',
      digest_hash: 'past',
      status: 'sent',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`insert into deliveries (issue_id, subscriber_id, email, status, sent_at)
            select ${past.id}, g, 'past' || g || '@example.com',
                   case when g % 50 = 0 then 'bounced' when g % 500 = 1 then 'complained'
                        when g % 3 = 0 then 'sent' else 'delivered' end, now() - interval '1 hour'
              from generate_series(1, ${DELIVERIES}::int) g`.execute(db);
  await sql`insert into events (type, source, email, issue_id)
            select case when g % 500 = 1 then 'complaint' else 'hard_bounce' end, 'ses', 'past' || g || '@example.com', ${past.id}
              from generate_series(1, ${DELIVERIES}::int) g where g % 50 = 0 or g % 500 = 1`.execute(db);
  // Deliveries have no insert trigger: whoever inserts them writes their counts (as enqueue does).
  await sql`insert into delivery_counts (issue_id, status, n)
            select issue_id, status, count(*) from deliveries group by 1, 2`.execute(db);
  // The past issue's links, as issue creation stores them: where its click redirects lead.
  await sql`insert into issue_links (issue_id, position, url, title, domain)
            select ${past.id}, g, 'https://news.example.org/story/' || g, 'Story ' || g, 'news.example.org'
              from generate_series(1, 10) g`.execute(db);
  const archived = await seedArchive(db, list.id);
  await sql`vacuum analyze`.execute(db);
  await timeStatsRead(db);
  // Write the seeding out now, so no checkpoint of it lands inside a measured run.
  await sql`checkpoint`.execute(db);
  console.log(`seeded in ${fmt((performance.now() - seedStarted) / 1000, 1)} s\n`);

  const measureSeconds = (seconds: number) => ({ connections: CONNECTIONS, duration: seconds });

  // The yardstick first, alone: a bare route doing one indexed UPDATE on a different row each time.
  if (runs('yardstick')) {
    const yardstick = await startYardstick(url);
    try {
      let row = 0;
      const request = {
        method: 'POST',
        setupRequest: (r: Record<string, unknown>) => ({
          ...r,
          path: `/yardstick/${(row++ % READERS) + 1}`,
        }),
      };
      await autocannon({ url: yardstick.url, ...measureSeconds(3), requests: [request] });
      const run = await measure(yardstick.pid, db, () =>
        autocannon({ url: yardstick.url, ...measureSeconds(SECONDS), requests: [request] }),
      );
      report('yardstick: bare UPDATE route', run);
    } finally {
      await yardstick.stop();
    }
  }

  const sink = await startSmtpSink();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serve = await startServe(
    {
      DATABASE_URL: url,
      DATABASE_POOL_SIZE: '16',
      SECRET_KEY: SECRET,
      PUBLIC_URL: base,
      PORT: String(port),
      HOST: '127.0.0.1',
      // Confirmation mail goes where production sends it: over SMTP, here to a sink in its own process.
      MAIL_URL: `smtp://127.0.0.1:${sink.port}`,
      LOG_LEVEL: 'warn',
      SIGNUP_LIMIT_PER_IP: '100000000',
      // Signups come from many readers: each request names its own client address (as a proxy would).
      TRUST_PROXY: 'true',
      SIGNUP_LIMIT_PER_ADDRESS: '100000000',
      NODE_ENV: 'production',
      METRICS_TOKEN,
    },
    process.env.BENCH_PROFILE
      ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] }
      : {},
  );
  const servePid = serve.child.pid!;

  try {
    console.log(
      `digestmail serve on ${base}, PostgreSQL ${url.replace(/\/\/[^@]*@/, '//')}, ${CONNECTIONS} connections, ${SECONDS} s per route\n`,
    );
    const signer = new TokenSigner(SECRET);
    const targets: [string, boolean][] = [];
    let measuredOneClick = 0;
    let warmed = 0;
    let accepted = 0;
    const scraped: Scrapes[] = [];

    // One-click first: the signups queue mail that the server's sender then renders and sends, which
    // would otherwise compete with this run.
    if (runs('one-click')) {
      // Warm up (JIT, connection pool, caches) on readers counted down from the top, not measured.
      let warm = READERS;
      await autocannon({
        url: base,
        ...measureSeconds(3),
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: 'List-Unsubscribe=One-Click',
            setupRequest: (request: Record<string, unknown>) => ({
              ...request,
              path: `/unsubscribe/${signUnsubscribe(signer, warm--, list.id)}`,
            }),
          },
        ],
      });
      warmed = READERS - warm;
      let next = 1;
      const oneClickOnce = () =>
        measure(servePid, db, () =>
          autocannon({
            url: base,
            ...measureSeconds(SECONDS),
            requests: [
              {
                method: 'POST',
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                body: 'List-Unsubscribe=One-Click',
                setupRequest: (request: Record<string, unknown>) => ({
                  ...request,
                  path: `/unsubscribe/${signUnsubscribe(signer, Math.min(next++, READERS), list.id)}`,
                }),
              },
            ],
          }),
        );
      const oneClickRun = await oneClickOnce();
      report('POST /unsubscribe (one-click)', oneClickRun);
      const oneClickScraped = await whileScraping(base, oneClickOnce);
      report('  … while scraping /metrics', oneClickScraped.run);
      reportScrapes(oneClickScraped.scrapes);
      scraped.push(oneClickScraped.scrapes);
      const oneClick = oneClickRun.result;
      measuredOneClick = oneClick['2xx'] + oneClickScraped.run.result['2xx'];
      targets.push(
        ['one-click CPU ≤ 0.5 ms/request', oneClickRun.serveMs + oneClickRun.postgresMs <= 0.5],
        ['one-click unsubscribes/s ≥ 3,000', oneClick['2xx'] / oneClick.duration >= 3000],
        ['p99 < 50 ms (one-click)', oneClick.latency.p99 < 50],
      );
    }

    if (runs('signup')) {
      // One browser session: its CSRF cookie and token are valid for every POST of the run.
      const form = await fetch(`${base}/subscribe`);
      const cookie = (form.headers.get('set-cookie') ?? '').split(';')[0]!;
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
      let n = 0;
      const signupRequest = {
        method: 'POST',
        path: '/subscribe',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        setupRequest: (request: Record<string, unknown>) => {
          const i = n++;
          return {
            ...request,
            headers: { ...(request.headers as object), 'x-forwarded-for': clientAddress(i) },
            body: `_csrf=${encodeURIComponent(csrf)}&email=new${i}%40example.org&name=Bench&lists=${list.id}`,
          };
        },
      };
      // Warm-up signups are stored like the others (and counted below as accepted).
      const warmup = await autocannon({ url: base, ...measureSeconds(2), requests: [signupRequest] });
      // Each signup's cost includes sending its confirmation mail, which the server's outbox sender
      // does while the signups come in and after, if it falls behind: every run starts with the
      // outbox empty and ends, for its CPU figures, once the mail it queued has been sent. (Before,
      // a run's figure held whatever part of its own and the previous run's mail happened to be sent
      // during it, and moved by a third from run to run.) Requests/s and latency are the run's own.
      await outboxDrained(db);
      const signupOnce = () =>
        measure(
          servePid,
          db,
          () => autocannon({ url: base, ...measureSeconds(SECONDS), requests: [signupRequest] }),
          () => outboxDrained(db),
        );
      const signupRun = await signupOnce();
      report('POST /subscribe', signupRun);
      const signupScraped = await whileScraping(base, signupOnce);
      report('  … while scraping /metrics', signupScraped.run);
      reportScrapes(signupScraped.scrapes);
      scraped.push(signupScraped.scrapes);
      const signup = signupRun.result;
      accepted = warmup['2xx'] + signup['2xx'] + signupScraped.run.result['2xx'];
      targets.push(
        ['signup CPU ≤ 1.0 ms/request', signupRun.serveMs + signupRun.postgresMs <= 1.0],
        ['signups/s ≥ 1,500', signup['2xx'] / signup.duration >= 1500],
        ['p99 < 50 ms (signup)', signup.latency.p99 < 50],
      );
    }
    if (scraped.length > 0) {
      // "Alone" means alone: the server's outbox sender is still sending the confirmation mail the
      // signups queued faster than it could; wait for it to finish (a state, not a time).
      const drainedIn = await outboxDrained(db);
      const alone = await scrapesAlone(base, 100);
      console.log(
        `${'GET /metrics alone'.padEnd(28)} (one scrape at a time, nothing else running; the outbox sender finished its backlog ${fmt(drainedIn / 1000, 1)} s after the runs)`,
      );
      reportScrapes(alone);
      const sorted = [...alone.ms].sort((x, y) => x - y);
      targets.push([
        'scrape p99 < 10 ms (alone, 1 M deliveries)',
        alone.failed === 0 && percentile(sorted, 0.99) < 10,
      ]);
    }

    // The public archive: the same for every reader, so served from the process's cache without a
    // query. Feed readers mostly poll with If-None-Match; both kinds of request are measured.
    if (runs('archive')) {
      const feedPath = '/lists/bench/feed.xml';
      const feedResponse = await fetch(`${base}${feedPath}`);
      const etag = feedResponse.headers.get('etag') ?? '';
      const feedBytes = Buffer.byteLength(await feedResponse.text());
      // fetch() would decompress; the bytes on the wire are what a reader's connection carries.
      const feedGzipBytes = await new Promise<number>((resolve, reject) => {
        get(`${base}${feedPath}`, { headers: { 'accept-encoding': 'gzip' } }, (response) => {
          let n = 0;
          response.on('data', (chunk: Buffer) => {
            n += chunk.length;
          });
          response.on('end', () => resolve(n));
        }).on('error', reject);
      });
      const issuePath = archived.path;
      const pageResponse = await fetch(`${base}${encodeURI(issuePath)}`);
      if (pageResponse.status !== 200) throw new Error(`${issuePath}: ${pageResponse.status}`);
      const pageBytes = Buffer.byteLength(await pageResponse.text());
      // As browsers and feed readers ask: gzip accepted.
      const gzip = { 'accept-encoding': 'gzip' };
      const archiveRuns: [string, Record<string, unknown>][] = [
        [`GET ${feedPath}`, { path: feedPath, headers: gzip }],
        ['  … If-None-Match (304)', { path: feedPath, headers: { ...gzip, 'if-none-match': etag } }],
        ['GET /lists/bench/<issue>', { path: encodeURI(issuePath), headers: gzip }],
      ];
      for (const [name, request] of archiveRuns) {
        await autocannon({ url: base, ...measureSeconds(2), requests: [request] });
        const run = await measure(servePid, db, () =>
          autocannon({ url: base, ...measureSeconds(SECONDS), requests: [request] }),
        );
        // A 304 is the answer asked for: count it as served.
        const ok = name.includes('304') ? run.result['2xx'] + run.result['3xx'] : run.result['2xx'];
        report(name, run, ok);
        if (!name.includes('304'))
          targets.push([`${name.trim()} req/s ≥ 2,000`, ok / run.result.duration >= 2000]);
      }
      console.log(
        `${''.padEnd(28)} feed: ${archived.entries} entries, ${fmt(feedBytes / 1024, 1)} KB (${fmt(feedGzipBytes / 1024, 1)} KB gzipped); issue page ${fmt(pageBytes / 1024, 1)} KB`,
      );
    }

    // A counted link: a different delivery of the 1 M-delivery issue per request, one of its ten
    // links, a browser's User-Agent. Each is one signature check, one cached lookup, one insert.
    if (runs('click')) {
      let delivery = 0;
      const clickRequest = {
        method: 'GET',
        headers: {
          'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36',
        },
        setupRequest: (request: Record<string, unknown>) => {
          delivery = (delivery % DELIVERIES) + 1;
          return {
            ...request,
            path: `/c/${signer.sign('click', { i: past.id, d: delivery })}/${(delivery % 10) + 1}`,
          };
        },
      };
      await autocannon({ url: base, ...measureSeconds(2), requests: [clickRequest] });
      const clickRun = await measure(servePid, db, () =>
        autocannon({ url: base, ...measureSeconds(SECONDS), requests: [clickRequest] }),
      );
      // A redirect is the answer asked for: count it as served.
      const ok = clickRun.result['3xx'];
      report('GET /c/<token>/<pos>', clickRun, ok);
      const clickRows = await sql<{ n: number }>`select count(*)::int as n from clicks`.execute(db);
      console.log(
        `${''.padEnd(28)} ${fmt(clickRows.rows[0]!.n)} first clicks stored (${fmt(DELIVERIES)} deliveries in the database)`,
      );
      targets.push(
        ['clicks/s ≥ 3,000', ok / clickRun.result.duration >= 3000],
        ['p99 < 50 ms (click)', clickRun.result.latency.p99 < 50],
      );
    }

    const counts = await sql<{ pending: number; unsubscribed: number; outbox: number; sent: number }>`
      select
        (select count(*) from subscriptions where status = 'pending')::int as pending,
        (select count(*) from subscriptions where status = 'unsubscribed')::int as unsubscribed,
        (select count(*) from outbox)::int as outbox,
        (select count(*) from outbox where status = 'sent')::int as sent
    `.execute(db);
    const c = counts.rows[0]!;
    console.log(
      `\nstored: ${fmt(c.pending)} pending signups (${fmt(accepted)} accepted), ${fmt(c.outbox)} confirmation mails queued (${fmt(c.sent)} sent by the server's outbox sender to smtp-sink), ${fmt(c.unsubscribed)} unsubscribed (${fmt(measuredOneClick)} measured one-click requests + ${fmt(warmed)} warm-up)`,
    );
    printTable();
    console.log(`targets: ${targets.map(([name, met]) => `${name} ${met ? 'met' : 'NOT met'}`).join('; ')}`);
  } finally {
    await serve.stop();
    await handle.close();
    sink.stop();
  }
}

await main();
