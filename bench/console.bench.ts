/**
 * npm run bench:console — every console page of a real `digestmail serve` on a big database:
 * BENCH_SUBSCRIBERS (default 1,000,000) confirmed subscribers of one list, and one issue sent to all
 * of them through the real enqueue (1,000,000 deliveries, a share of them then marked sent, delivered,
 * bounced, failed). A signed-in editor's session drives autocannon at each page for BENCH_SECONDS
 * (default 5) with BENCH_CONNECTIONS (default 4); it prints requests/s and latency percentiles per
 * page, and whether each p99 is under the 100 ms target. Beside them, as a yardstick from the same
 * run, `GET /healthz` (one `select 1`): what any request to this server costs on this machine now.
 */
import { createRequire } from 'node:module';
import { sql } from 'kysely';
import { loadConfig } from '../src/config/config.loader.ts';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { EditorsService } from '../src/editors/editors.service.ts';
import { IssuesService } from '../src/issues/issues.service.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { freePort, startServe } from '../tests/helpers/serve.ts';
import { fmt, freshMigratedDatabase } from './bench.util.ts';
import { readFileSync } from 'node:fs';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
const TARGET_P99_MS = 100;

const { url, handle } = await freshMigratedDatabase('dm_bench_console');
const db = handle.db;
try {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    SECRET_KEY: SECRET,
    DATABASE_URL: url,
    PUBLIC_URL: base,
    TZ: 'Asia/Shanghai',
  });

  let t = Date.now();
  await new ListsService(db).create({
    slug: 'ai-daily',
    name: 'AI 日报',
    language: 'zh-CN',
    trackClicks: true,
  });
  await sql`insert into subscribers (email) select 'reader' || g || '@example.org' from generate_series(1, ${SUBSCRIBERS}) g`.execute(
    db,
  );
  await sql`insert into subscriptions (subscriber_id, list_id, status) select id, 1, 'confirmed' from subscribers`.execute(
    db,
  );
  await sql`insert into suppressions (email, reason) select 'reader' || g || '@example.org', 'hard_bounce' from generate_series(1, 1000) g`.execute(
    db,
  );
  // Statistics for the planner, as autovacuum would have them after an import this size.
  await sql`analyze`.execute(db);
  const digest = parseDigest(
    readFileSync(new URL('../examples/digests/2026-11-30-ai-daily.md', import.meta.url), 'utf8'),
    'ai-daily.md',
  );
  const issues = new IssuesService(db, config);
  const list = await new ListsService(db).require('ai-daily');
  const issueId = (await issues.createFromDigest(digest, list, { status: 'draft', sendAt: null }))!;
  await issues.send(String(issueId));
  // Most of the issue has gone out, some of it bounced or failed: a realistic page to render.
  await sql`update deliveries set status = 'sent', sent_at = now() where issue_id = ${issueId} and id % 10 <> 0`.execute(
    db,
  );
  await sql`update deliveries set status = 'delivered' where issue_id = ${issueId} and id % 10 = 1`.execute(
    db,
  );
  await sql`update deliveries set status = 'bounced' where issue_id = ${issueId} and id % 100 = 3`.execute(
    db,
  );
  await sql`update deliveries set status = 'failed' where issue_id = ${issueId} and id % 1000 = 5`.execute(
    db,
  );
  await sql`select digestmail_compact_counts()`.execute(db);
  await sql`vacuum analyze`.execute(db);
  const draftId = (await issues.createFromDigest(digest, list, { status: 'draft', sendAt: null }))!;
  const editors = new EditorsService(db);
  await editors.add({ email: 'chief@example.org', role: 'admin' }, { cli: 'bench' });
  const link = await editors.signInLinkFor('chief@example.org', base, { cli: 'bench' });
  const session = (await editors.signIn(link.slice(link.lastIndexOf('/') + 1)))!;
  const someone = await sql<{
    id: number;
  }>`select id from subscribers where email = ${`reader${Math.min(123456, SUBSCRIBERS)}@example.org`}`.execute(
    db,
  );
  console.log(
    `seeded ${fmt(SUBSCRIBERS)} subscribers and an issue of ${fmt(SUBSCRIBERS - 1000)} deliveries in ${fmt((Date.now() - t) / 1000, 1)} s`,
  );

  const serve = await startServe({
    NODE_ENV: 'test',
    DATABASE_URL: url,
    SECRET_KEY: SECRET,
    PUBLIC_URL: base,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    SEND_RATE: '1',
    TZ: 'Asia/Shanghai',
  });
  try {
    const pages: [string, string][] = [
      ['yardstick: GET /healthz (select 1)', '/healthz'],
      ['dashboard', '/console/'],
      ['issue page (1 M deliveries, clicks)', `/console/issues/${issueId}`],
      ['issue page of a draft', `/console/issues/${draftId}`],
      ['new issue', '/console/issues/new'],
      ['subscriber search (prefix)', '/console/subscribers?q=reader12345'],
      ['a subscriber', `/console/subscribers/${someone.rows[0]!.id}`],
      ['suppressions', '/console/suppressions'],
      ['lists', '/console/lists'],
      ['editors', '/console/editors'],
      ['audit log', '/console/audit'],
    ];
    console.log(`\n${SECONDS} s per page, ${CONNECTIONS} connections; target p99 < ${TARGET_P99_MS} ms`);
    console.log('page'.padEnd(42), 'req/s'.padStart(8), 'p50'.padStart(6), 'p99'.padStart(6), '  verdict');
    let worst = 0;
    for (const [name, path] of pages) {
      const events = path.endsWith('/events');
      t = Date.now();
      const result = await autocannon({
        url: `${base}${path}`,
        connections: CONNECTIONS,
        duration: SECONDS,
        headers: { cookie: `dm_console=${session.sessionId}` },
      });
      const ok = result.latency.p99 < TARGET_P99_MS;
      if (!name.startsWith('yardstick')) worst = Math.max(worst, result.latency.p99);
      console.log(
        name.padEnd(42),
        fmt(result.requests.average).padStart(8),
        `${fmt(result.latency.p50)}`.padStart(6),
        `${fmt(result.latency.p99)}`.padStart(6),
        name.startsWith('yardstick') ? '  —' : ok ? '  ok' : '  OVER',
        result.non2xx > 0 ? `  (${result.non2xx} non-2xx)` : '',
      );
    }
    console.log(`\nworst console page p99: ${fmt(worst)} ms (target < ${TARGET_P99_MS} ms)`);
  } finally {
    await serve.stop();
  }
} finally {
  await handle.close();
}
