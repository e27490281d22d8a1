import { type Kysely, sql } from 'kysely';
import type { Database, DeliveryStatus } from '../db/db.types.ts';

export interface DeliveryStats {
  deliveriesByStatus: Partial<Record<DeliveryStatus, number>>;
  /** Messages a transport accepted, ever (deliveries with a sent time). */
  sent: number;
  failed: number;
  hardBounces: number;
  softBounces: number;
  complaints: number;
  /** Deliveries still to send (queued, or claimed by a worker). */
  queueDepth: number;
  /** Messages sent in the last minute, per second. */
  sendRate: number;
}

const RATE_WINDOW_SECONDS = 60;

/**
 * Numbers for /metrics, read from the database at scrape time: any number of workers in other
 * processes send, and the database is the only place that sees all of them.
 */
export class DeliveryStatsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async read(): Promise<DeliveryStats> {
    const [byStatus, totals, events] = await Promise.all([
      this.db
        .selectFrom('deliveries')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute(),
      sql<{ sent: number; recent: number }>`
        select count(sent_at)::int as sent,
               count(*) filter (where sent_at > now() - make_interval(secs => ${RATE_WINDOW_SECONDS}))::int as recent
        from deliveries`.execute(this.db),
      this.db
        .selectFrom('events')
        .select(['type', (eb) => eb.fn.countAll<number>().as('n')])
        .where('type', 'in', ['hard_bounce', 'soft_bounce', 'complaint'])
        .groupBy('type')
        .execute(),
    ]);
    const deliveriesByStatus: Partial<Record<DeliveryStatus, number>> = {};
    for (const row of byStatus) deliveriesByStatus[row.status] = Number(row.n);
    const eventCount = (type: string) => Number(events.find((e) => e.type === type)?.n ?? 0);
    const t = totals.rows[0] ?? { sent: 0, recent: 0 };
    return {
      deliveriesByStatus,
      sent: Number(t.sent),
      failed: deliveriesByStatus.failed ?? 0,
      hardBounces: eventCount('hard_bounce'),
      softBounces: eventCount('soft_bounce'),
      complaints: eventCount('complaint'),
      queueDepth: (deliveriesByStatus.queued ?? 0) + (deliveriesByStatus.sending ?? 0),
      sendRate: Number(t.recent) / RATE_WINDOW_SECONDS,
    };
  }
}
