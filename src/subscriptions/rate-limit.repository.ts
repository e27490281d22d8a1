import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database } from '../db/db.types.ts';

export interface RateLimitHit {
  /** An opaque key (an HMAC of what is limited, never the raw address or IP). */
  key: string;
  windowSeconds: number;
}

/**
 * The upsert that counts one hit on each key and returns `(key, hits)` with the hits in the key's
 * current window, this one included. The row lock of the upsert serialises concurrent hits on one
 * key, so two processes can never both see "first". (A signup counts its limits with the same
 * upsert, over its whole batch, in digestmail_signup_batch, in the same round trip as the rest of its
 * work.)
 */
export function countHits(hits: RateLimitHit[]): RawBuilder<{ key: string; hits: number }> {
  const keys = hits.map((h) => h.key);
  const windows = hits.map((h) => h.windowSeconds);
  return sql<{ key: string; hits: number }>`
    insert into rate_limits as r (key, hits, expires_at)
    select key, 1, now() + make_interval(secs => seconds)
    from unnest(${keys}::text[], ${windows}::int[]) as t(key, seconds)
    on conflict (key) do update set
      hits = case when r.expires_at <= now() then 1 else r.hits + 1 end,
      expires_at = case when r.expires_at <= now() then excluded.expires_at else r.expires_at end
    returning key, hits
  `;
}

/**
 * Fixed-window counters kept in PostgreSQL, so every process sharing the database sees the same
 * counts. A key's window opens at its first hit; a hit after the window has closed starts a new one.
 */
export class RateLimitRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Counts one hit on each key; returns the hits in each key's current window, in the order given. */
  async hit(hits: RateLimitHit[]): Promise<number[]> {
    if (hits.length === 0) return [];
    const result = await countHits(hits).execute(this.db);
    const byKey = new Map(result.rows.map((row) => [row.key, row.hits]));
    return hits.map((h) => byKey.get(h.key) ?? 0);
  }

  /** Removes counters whose window has closed; returns how many. */
  async prune(): Promise<number> {
    const result = await this.db
      .deleteFrom('rate_limits')
      .where('expires_at', '<=', sql<Date>`now()`)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
