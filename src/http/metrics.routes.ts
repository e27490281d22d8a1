import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { DeliveryStatsService } from '../bounces/delivery-stats.service.ts';
import type { Database } from '../db/db.types.ts';

export interface MetricsRoutesOptions {
  db: Kysely<Database>;
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
 * GET /metrics in the Prometheus text format. The sending numbers are gauges read from the database
 * at each scrape (not per-process counters), so they are right however many workers there are and
 * survive restarts; process metrics (memory, event loop) are this process's own.
 */
export async function metricsRoutes(app: FastifyInstance, options: MetricsRoutesOptions): Promise<void> {
  const stats = new DeliveryStatsService(options.db);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'digestmail_' });
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry] });

  const deliveries = gauge('digestmail_deliveries', 'Deliveries by status, all issues', ['status']);
  const sent = gauge('digestmail_messages_sent', 'Messages accepted by the mail transport, all issues');
  const failures = gauge('digestmail_send_failures', 'Deliveries that failed permanently');
  const bounces = gauge('digestmail_bounces', 'Bounce events recorded, by type', ['type']);
  const complaints = gauge('digestmail_complaints', 'Complaint events recorded');
  const queueDepth = gauge('digestmail_queue_depth', 'Deliveries queued or being sent');
  const sendRate = gauge('digestmail_send_rate', 'Messages sent per second over the last minute');

  app.get('/metrics', async (_request, reply) => {
    const s = await stats.read();
    for (const status of DELIVERY_STATUSES) deliveries.set({ status }, s.deliveriesByStatus[status] ?? 0);
    sent.set(s.sent);
    failures.set(s.failed);
    bounces.set({ type: 'hard' }, s.hardBounces);
    bounces.set({ type: 'soft' }, s.softBounces);
    complaints.set(s.complaints);
    queueDepth.set(s.queueDepth);
    sendRate.set(s.sendRate);
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });
}
