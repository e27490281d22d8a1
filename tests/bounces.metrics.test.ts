import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsRoutes } from '../src/http/metrics.routes.ts';
import { seedIssue } from './bounces.seed.ts';
import { until } from './sender.helpers.ts';
import { startTestApp, testConfig } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

let database: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  app = Fastify({ logger: false });
  await app.register(metricsRoutes, { db: database.db });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await database?.close();
});

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no ${series} in\n${text}`);
  return Number(line.slice(series.length + 1));
}

/** `promtool check metrics` (Debian's prometheus package) on an exposition; its findings, if any. */
function promtool(exposition: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(exposition);
  });
}

it('GET /metrics reports sends, failures, bounces, complaints and queue depth from the counts the database keeps', async () => {
  const emails = Array.from({ length: 10 }, (_, i) => `m${i}@example.net`);
  const { deliveries } = await seedIssue(database.db, emails);
  const ids = deliveries.map((d) => d.id);
  // Seeded as sent: 10 sent. Then 2 back to queued, 1 sending, 1 failed.
  await database.db
    .updateTable('deliveries')
    .set({ status: 'queued', sent_at: null })
    .where('id', 'in', ids.slice(0, 2))
    .execute();
  await database.db
    .updateTable('deliveries')
    .set({ status: 'sending', sent_at: null })
    .where('id', '=', ids[2]!)
    .execute();
  await database.db
    .updateTable('deliveries')
    .set({ status: 'failed', sent_at: null })
    .where('id', '=', ids[3]!)
    .execute();
  const event = (type: 'hard_bounce' | 'soft_bounce' | 'complaint', n: number) => ({
    type,
    source: 'ses' as const,
    external_id: `metrics-${type}-${n}`,
    email: `m${n}@example.net`,
  });
  await database.db
    .insertInto('events')
    .values([
      event('hard_bounce', 6),
      event('hard_bounce', 7),
      event('soft_bounce', 8),
      event('complaint', 9),
    ])
    .execute();

  const res = await app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = res.body;
  expect(value(text, 'digestmail_messages_sent_total')).toBe(6);
  expect(value(text, 'digestmail_send_failures_total')).toBe(1);
  expect(value(text, 'digestmail_queue_depth')).toBe(3);
  expect(value(text, 'digestmail_bounces_total{type="hard"}')).toBe(2);
  expect(value(text, 'digestmail_bounces_total{type="soft"}')).toBe(1);
  expect(value(text, 'digestmail_complaints_total')).toBe(1);
  expect(value(text, 'digestmail_deliveries{status="queued"}')).toBe(2);
  expect(value(text, 'digestmail_deliveries{status="sent"}')).toBe(6);
  expect(text).toContain('# TYPE digestmail_process_resident_memory_bytes gauge');

  // A second scrape reads the database again: numbers follow it, not this process.
  await database.db
    .updateTable('deliveries')
    .set({ status: 'failed' })
    .where('id', 'in', ids.slice(0, 2))
    .execute();
  const again = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  expect(value(again, 'digestmail_send_failures_total')).toBe(3);
  expect(value(again, 'digestmail_queue_depth')).toBe(1);

  // Erasing one reader's events leaves the totals alone: a counter never goes down.
  await database.db.deleteFrom('events').where('email', '=', 'm6@example.net').execute();
  const later = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  expect(value(later, 'digestmail_bounces_total{type="hard"}')).toBe(2);
});

it('business totals are counters named *_total, and promtool check metrics finds nothing', async () => {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  for (const name of [
    'digestmail_messages_sent_total',
    'digestmail_send_failures_total',
    'digestmail_bounces_total',
    'digestmail_complaints_total',
    'digestmail_clicks_total',
  ]) {
    expect(text).toContain(`# TYPE ${name} counter`);
  }
  // No gauge may carry the counter suffix (prom-client's default *_active_*_total gauges did).
  const gaugesNamedTotal = [...text.matchAll(/^# TYPE (\S+_total) gauge$/gm)].map((m) => m[1]);
  expect(gaugesNamedTotal).toEqual([]);

  expect(
    existsSync('/usr/bin/promtool'),
    'promtool (Debian package prometheus) is installed by .ci/run',
  ).toBe(true);
  const checked = await promtool(text);
  expect(checked.output).toBe('');
  expect(checked.code).toBe(0);
});

it('the counts equal counting the deliveries after claims, results, events, erasure and a deleted issue', async () => {
  const emails = Array.from({ length: 30 }, (_, i) => `c${i}@example.net`);
  const first = await seedIssue(database.db, emails.slice(0, 20), { lists: ['counts-a'] });
  const second = await seedIssue(database.db, emails.slice(20), { lists: ['counts-b'] });
  const a = first.deliveries.map((d) => d.id);
  // Statements touching several issues and statuses at once, in one transaction and alone.
  await database.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('deliveries')
      .set({ status: 'sending', crash_resends: 1 })
      .where('id', 'in', [...a.slice(0, 5), second.deliveries[0]!.id])
      .execute();
    await trx
      .updateTable('deliveries')
      .set({ status: 'delivered' })
      .where('id', 'in', a.slice(5, 12))
      .execute();
  });
  await sql`update deliveries set status = case when id % 3 = 0 then 'bounced' else 'complained' end
            where id = any(${a.slice(12, 18)}::bigint[])`.execute(database.db);
  await database.db
    .updateTable('deliveries')
    .set({ email: null, subscriber_id: null })
    .where('id', '=', a[0]!)
    .execute();
  await database.db.deleteFrom('deliveries').where('id', '=', a[19]!).execute();
  const third = await seedIssue(database.db, ['gone@example.net'], { lists: ['counts-c'] });
  await database.db.deleteFrom('issues').where('id', '=', third.issueId).execute();
  await sql`select digestmail_compact_counts()`.execute(database.db);
  await database.db
    .updateTable('deliveries')
    .set({ status: 'failed' })
    .where('id', 'in', a.slice(1, 3))
    .execute();

  const counted = await sql<{ issue_id: number; status: string; n: number; resent: number }>`
    select issue_id, status, count(*)::int as n, count(*) filter (where crash_resends > 0)::int as resent
      from deliveries group by 1, 2 order by 1, 2`.execute(database.db);
  const kept = await sql<{ issue_id: number; status: string; n: number; resent: number }>`
    select issue_id, status, sum(n)::int as n, sum(resent)::int as resent
      from delivery_counts group by 1, 2 having sum(n) <> 0 order by 1, 2`.execute(database.db);
  expect(kept.rows).toEqual(counted.rows);
});

describe('who may read /metrics', () => {
  it('the web app serves /metrics only with METRICS_TOKEN, and only to a scraper that sends it', async () => {
    const open = await startTestApp(database);
    try {
      expect((await open.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await open.app.close();
    }

    const token = 'metrics-token-0123456789abcdef';
    const guarded = await startTestApp(database, { METRICS_TOKEN: token });
    try {
      const none = await guarded.app.inject({ method: 'GET', url: '/metrics' });
      expect(none.statusCode).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(none.body).not.toContain('digestmail_');
      const wrong = await guarded.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${token}x` },
      });
      expect(wrong.statusCode).toBe(401);
      const right = await guarded.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(right.statusCode).toBe(200);
      expect(right.body).toContain('digestmail_messages_sent_total');
    } finally {
      await guarded.app.close();
    }

    // With a listener of its own, the public port never serves it, token or not.
    const separate = await startTestApp(database, { METRICS_TOKEN: token, METRICS_PORT: '0' });
    try {
      const res = await separate.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode).toBe(404);
    } finally {
      await separate.app.close();
    }
  });
});

describe('counter folding in serve', () => {
  it('folds the delivery and click totals every second in the background, so a scrape only sums what a second left', async () => {
    const first = await seedIssue(database.db, ['fold-a@example.net', 'fold-b@example.net'], {
      lists: ['counts-fold'],
    });
    // Delta rows as a burst leaves them: many per status and kind.
    for (let i = 0; i < 5; i++) {
      await sql`insert into delivery_counts (issue_id, status, n) values (${first.issueId}, 'sent', 1)`.execute(
        database.db,
      );
      await sql`insert into click_counts (kind, n) values ('human', 1)`.execute(database.db);
    }
    const rows = async () => {
      const r = await sql<{ deliveries: number; clicks: number; sent: number; human: number }>`
        select (select count(*) from delivery_counts where issue_id = ${first.issueId} and status = 'sent')::int as deliveries,
               (select count(*) from click_counts where kind = 'human')::int as clicks,
               (select coalesce(sum(n), 0) from delivery_counts where issue_id = ${first.issueId} and status = 'sent')::int as sent,
               (select coalesce(sum(n), 0) from click_counts where kind = 'human')::int as human
      `.execute(database.db);
      return r.rows[0]!;
    };
    const before = await rows();
    expect(before.deliveries).toBeGreaterThan(1);
    expect(before.clicks).toBeGreaterThan(1);
    const { serveServices } = await import('../src/cli/serve.commands.ts');
    const { databaseHealth } = await import('../src/db/db.health.ts');
    const folding = serveServices({
      config: testConfig({ DATABASE_URL: database.url! }),
      db: database.db,
      engine: 'postgres',
      health: databaseHealth(database.db),
    }).find((service) => service.name === 'counter folding')!;
    await folding.start();
    try {
      // Wait for the state: one row per status and kind left, the totals unchanged.
      const after = await until(
        async () => {
          const now = await rows();
          return now.deliveries <= 1 && now.clicks <= 1 ? now : undefined;
        },
        30_000,
        'the delta rows to be folded',
      );
      expect(after).toEqual({ deliveries: 1, clicks: 1, sent: before.sent, human: before.human });
    } finally {
      await folding.stop();
    }
  });
});
