import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { ClicksService } from '../clicks/clicks.service.ts';
import { DeliveryStatsService } from '../bounces/delivery-stats.service.ts';
import type { Database } from '../db/db.types.ts';

export interface MetricsRoutesOptions {
  db: Kysely<Database>;
  /** When set, a scrape must send `Authorization: Bearer <token>`. */
  token?: string | undefined;
}

const DELIVERY_STATUSES = [
  'queued',
  'sending',
  'sent',
  'delivered',
  'failed',
  'bounced',
  'complained',
  'suppressed',
  'unsubscribed',
] as const;

/**
 * prom-client's default metrics include three gauges whose names end in `_total` (active handles,
 * requests, resources), which `promtool check metrics` rejects: a `_total` name promises a counter
 * that `rate()` can use. Their per-type gauges without the suffix stay.
 */
const GAUGES_NAMED_TOTAL = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/**
 * GET /metrics in the Prometheus text format. The sending numbers come from the counts the
 * database keeps per issue and status (not per-process counters), so they are right however many
 * workers there are and survive restarts; a scrape reads a few rows, not the deliveries. Business
 * totals are counters (`*_total`, for `rate()`); levels (queue depth, deliveries by status) are
 * gauges. Process metrics (memory, event loop) are this process's own.
 *
 * Served by `app.ts` only behind METRICS_TOKEN, or by its own listener on METRICS_HOST:METRICS_PORT.
 */
export async function metricsRoutes(app: FastifyInstance, options: MetricsRoutesOptions): Promise<void> {
  const stats = new DeliveryStatsService(options.db);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'digestmail_' });
  for (const name of GAUGES_NAMED_TOTAL) registry.removeSingleMetric(`digestmail_${name}`);
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  /** A counter whose value is kept in the database: set to what was read (a drop is a reset). */
  const setCounter = (metric: Counter, value: number, labels: Record<string, string> = {}) => {
    metric.reset();
    metric.inc(labels, Math.max(0, value));
  };

  const deliveries = gauge('digestmail_deliveries', 'Deliveries by status, all issues', ['status']);
  const queueDepth = gauge('digestmail_queue_depth', 'Deliveries queued or being sent');
  const sent = counter(
    'digestmail_messages_sent_total',
    'Messages accepted by the mail transport, all issues',
  );
  const failures = counter('digestmail_send_failures_total', 'Deliveries that failed permanently');
  const bounces = counter('digestmail_bounces_total', 'Bounce events recorded, by type', ['type']);
  const complaints = counter('digestmail_complaints_total', 'Complaint events recorded');
  const clickCounter = counter(
    'digestmail_clicks_total',
    'First clicks per (delivery, link) on counted links, by verdict (human or scanner)',
    ['kind'],
  );
  const clicks = new ClicksService(options.db);

  const expected = options.token === undefined ? undefined : digest(options.token);
  const authorized = (request: FastifyRequest): boolean => {
    if (expected === undefined) return true;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    // Compared as fixed-length digests in constant time: neither content nor length leaks.
    return match !== null && timingSafeEqual(digest(match[1]!), expected);
  };

  app.get('/metrics', async (request, reply: FastifyReply) => {
    if (!authorized(request)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="digestmail metrics"')
        .header('content-type', 'text/plain; charset=utf-8')
        .send('a metrics token is required (Authorization: Bearer …)\n');
    }
    const s = await stats.read();
    for (const status of DELIVERY_STATUSES) deliveries.set({ status }, s.deliveriesByStatus[status] ?? 0);
    queueDepth.set(s.queueDepth);
    setCounter(sent, s.sent);
    setCounter(failures, s.failed);
    bounces.reset();
    bounces.inc({ type: 'hard' }, s.hardBounces);
    bounces.inc({ type: 'soft' }, s.softBounces);
    setCounter(complaints, s.complaints);
    const c = await clicks.totals();
    clickCounter.reset();
    clickCounter.inc({ kind: 'human' }, c.human);
    clickCounter.inc({ kind: 'scanner' }, c.scanner);
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
