import { type Kysely, sql } from 'kysely';

/**
 * Counters for the signup form's rate limits (per client IP, per address, one confirmation mail per
 * address per window). They live in the database, not in memory, so the limits hold however many
 * `digestmail serve` processes share it. One row per key; the window starts at the key's first hit
 * and the row is reset when it has expired. Keys are HMACs, so no address or IP is stored here.
 *
 * UNLOGGED: the counters are written on every signup and are worthless after a crash anyway (the
 * windows are minutes long), so they skip the write-ahead log.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create unlogged table rate_limits (
      key text primary key,
      hits integer not null,
      expires_at timestamptz not null
    )
  `.execute(db);
  await sql`create index rate_limits_expires_at_idx on rate_limits (expires_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('rate_limits').ifExists().execute();
}
