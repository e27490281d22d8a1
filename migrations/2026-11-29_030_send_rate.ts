import { type Kysely, sql } from 'kysely';

/**
 * The shared token bucket behind SEND_RATE. Every worker process takes its tokens from one row here,
 * so the rate holds for the sum of all workers however many run, and a worker that joins or dies
 * changes nothing for the others. `rate_factor` is lowered when a provider says "slow down" and
 * climbs back by itself, so one worker's throttling slows every worker sending through that account.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table send_rate_buckets (
      name text primary key,
      tokens double precision not null,
      rate_factor double precision not null default 1 check (rate_factor > 0 and rate_factor <= 1),
      refreshed_at timestamptz not null default now()
    )
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('send_rate_buckets').ifExists().execute();
}
