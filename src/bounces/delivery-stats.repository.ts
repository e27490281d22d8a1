import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database, DeliveryStatus } from '../db/db.types.ts';
import { vacuumSmallTables } from '../db/maintenance.repository.ts';

export interface DeliveryStats {
  deliveriesByStatus: Partial<Record<DeliveryStatus, number>>;
  /** Messages a transport accepted, ever: deliveries that are sent, delivered, bounced or complained. */
  sent: number;
  failed: number;
  hardBounces: number;
  softBounces: number;
  complaints: number;
  /** Deliveries still to send (queued, or claimed by a worker). */
  queueDepth: number;
}

/** Statuses a delivery reaches only after its message was accepted, and never leaves for another. */
const SENT_STATUSES: readonly DeliveryStatus[] = ['sent', 'delivered', 'bounced', 'complained'];

/**
 * Numbers for /metrics, from the counts the database keeps as deliveries and events change
 * (migration 140): a scrape reads a few rows per issue, however many deliveries there are, and
 * the numbers are right however many workers, in however many processes, are sending.
 */
export class DeliveryStatsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Folds the counts' delta rows (digestmail_compact_counts) and vacuums the two tables (see
   * vacuumSmallTables). serve does it every second in the background (workers fold as they send),
   * so a scrape only sums what a second left.
   */
  async compactCounts(): Promise<void> {
    await sql`select digestmail_compact_counts()`.execute(this.db);
    await vacuumSmallTables(this.db, ['delivery_counts', 'event_counts']);
  }

  async read(): Promise<DeliveryStats> {
    const [byStatus, events] = await Promise.all([
      this.db
        .selectFrom('delivery_counts')
        .groupBy('status')
        .select((eb) => ['status', eb.fn.sum<number>('n').as('n')])
        .execute(),
      this.db
        .selectFrom('event_counts')
        .groupBy('type')
        .select((eb) => ['type', eb.fn.sum<number>('n').as('n')])
        .execute(),
    ]);
    const deliveriesByStatus: Partial<Record<DeliveryStatus, number>> = {};
    for (const row of byStatus) deliveriesByStatus[row.status] = Number(row.n);
    const of = (status: DeliveryStatus) => deliveriesByStatus[status] ?? 0;
    const eventCount = (type: string) => Number(events.find((e) => e.type === type)?.n ?? 0);
    return {
      deliveriesByStatus,
      sent: SENT_STATUSES.reduce((sum, status) => sum + of(status), 0),
      failed: of('failed'),
      hardBounces: eventCount('hard_bounce'),
      softBounces: eventCount('soft_bounce'),
      complaints: eventCount('complaint'),
      queueDepth: of('queued') + of('sending'),
    };
  }
}
