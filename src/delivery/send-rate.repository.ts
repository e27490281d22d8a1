import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/db.types.ts';

export interface Grant {
  /** Tokens handed out (whole messages), possibly 0. */
  granted: number;
  /** Tokens left in the bucket after this grant (fractional). */
  left: number;
  /** Messages per second the bucket refills at now (SEND_RATE × the throttling factor). */
  effectiveRate: number;
}

/** How fast a throttled bucket climbs back to the full rate: from half to full in about ten seconds. */
const RECOVERY_PER_SECOND = 0.05;

/**
 * SQL for the token bucket shared by every worker. Each call refills the row for the time since it was
 * last touched and takes what it can in one statement under the row lock, so two workers can never
 * spend the same token. Elapsed time is never negative (clocks are read after the lock), which errs
 * toward sending slower, never faster.
 */
export class SendRateRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async take(name: string, wanted: number, rate: number, burst: number): Promise<Grant> {
    const result = await sql<{ granted: number; left: number; factor: number }>`
      with bucket as (
        select b.name,
               least(${burst}::float8, greatest(0, b.tokens
                 + greatest(0, extract(epoch from clock_timestamp() - b.refreshed_at))
                   * ${rate}::float8 * b.rate_factor)) as avail,
               least(1, b.rate_factor
                 + greatest(0, extract(epoch from clock_timestamp() - b.refreshed_at)) * ${RECOVERY_PER_SECOND}::float8) as factor
        from send_rate_buckets b where b.name = ${name} for update
      )
      update send_rate_buckets s
         set tokens = bucket.avail - least(${wanted}::float8, floor(bucket.avail)),
             rate_factor = bucket.factor,
             refreshed_at = greatest(s.refreshed_at, clock_timestamp())
        from bucket
       where s.name = bucket.name
      returning least(${wanted}::float8, floor(bucket.avail))::int as granted,
                (bucket.avail - least(${wanted}::float8, floor(bucket.avail)))::float8 as "left",
                bucket.factor::float8 as factor
    `.execute(this.db);
    const row = result.rows[0];
    if (!row) {
      await this.ensure(name, burst);
      return this.take(name, wanted, rate, burst);
    }
    return { granted: row.granted, left: row.left, effectiveRate: rate * row.factor };
  }

  /** Creates the bucket empty, so a fleet of workers starting together does not burst. */
  async ensure(name: string, _burst: number): Promise<void> {
    await this.db
      .insertInto('send_rate_buckets')
      .values({ name, tokens: 0, refreshed_at: sql<Date>`clock_timestamp()` })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }

  /** The provider asked us to slow down: halve the shared rate (never below 5 % of it). */
  async slowDown(name: string): Promise<void> {
    await this.db
      .updateTable('send_rate_buckets')
      .set({ rate_factor: sql<number>`greatest(0.05, rate_factor * 0.5)` })
      .where('name', '=', name)
      .execute();
  }
}
