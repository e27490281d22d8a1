import Fastify, { type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { metricsRoutes } from '../src/http/metrics.routes.ts';
import { seedIssue } from './bounces.seed.ts';
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

it('GET /metrics reports sends, failures, bounces, complaints, queue depth and send rate from the database', async () => {
  const emails = Array.from({ length: 10 }, (_, i) => `m${i}@example.net`);
  const { deliveries } = await seedIssue(database.db, emails);
  const ids = deliveries.map((d) => d.id);
  // Seeded as sent just now: 10 sent. Then 2 back to queued, 1 sending, 1 failed, and 2 sent 10 minutes ago.
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
  await database.db
    .updateTable('deliveries')
    .set({ sent_at: sql`now() - interval '10 minutes'` })
    .where('id', 'in', ids.slice(4, 6))
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
  expect(value(text, 'digestmail_messages_sent')).toBe(6);
  expect(value(text, 'digestmail_send_failures')).toBe(1);
  expect(value(text, 'digestmail_queue_depth')).toBe(3);
  expect(value(text, 'digestmail_bounces{type="hard"}')).toBe(2);
  expect(value(text, 'digestmail_bounces{type="soft"}')).toBe(1);
  expect(value(text, 'digestmail_complaints')).toBe(1);
  expect(value(text, 'digestmail_deliveries{status="queued"}')).toBe(2);
  expect(value(text, 'digestmail_deliveries{status="sent"}')).toBe(6);
  // 4 of the 6 sent in the last minute.
  expect(value(text, 'digestmail_send_rate')).toBeCloseTo(4 / 60, 5);
  expect(text).toContain('# TYPE digestmail_process_resident_memory_bytes gauge');

  // A second scrape reads the database again: numbers follow it, not this process.
  await database.db
    .updateTable('deliveries')
    .set({ status: 'failed' })
    .where('id', 'in', ids.slice(0, 2))
    .execute();
  const again = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  expect(value(again, 'digestmail_send_failures')).toBe(3);
  expect(value(again, 'digestmail_queue_depth')).toBe(1);
});
