import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { type RateLimitHit, RateLimitRepository } from './rate-limit.repository.ts';

export type { RateLimitHit };

/** The shared fixed-window counters, for routes outside this module (the console's sign-in). */
export class RateLimitService {
  private readonly repo: RateLimitRepository;

  constructor(db: Kysely<Database>) {
    this.repo = new RateLimitRepository(db);
  }

  /** Counts one hit on each key; returns the hits in each key's current window, in the order given. */
  hit(hits: RateLimitHit[]): Promise<number[]> {
    return this.repo.hit(hits);
  }
}
