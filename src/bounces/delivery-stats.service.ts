import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { type DeliveryStats, DeliveryStatsRepository } from './delivery-stats.repository.ts';

export type { DeliveryStats };

/** The numbers /metrics shows; routes reach them through this service, not the repository. */
export class DeliveryStatsService {
  private readonly repo: DeliveryStatsRepository;

  constructor(db: Kysely<Database>) {
    this.repo = new DeliveryStatsRepository(db);
  }

  read(): Promise<DeliveryStats> {
    return this.repo.read();
  }

  compactCounts(): Promise<void> {
    return this.repo.compactCounts();
  }
}
