import { type Kysely, sql } from 'kysely';

/**
 * Click totals kept as clicks are recorded, for /metrics: a scrape counted every row of `clicks`
 * (O(clicks), and clicks are kept for CLICK_RETENTION_DAYS), where the delivery figures beside it
 * read a few kept rows. `click_counts` holds delta rows (kind, n): digestmail_record_click writes
 * +1 for the click it records and moves a burst's re-marked clicks from human to scanner;
 * digestmail_compact_click_counts folds the deltas into one row per kind now and then. The totals
 * only grow: folding old clicks into per-link totals (retention) or deleting an issue takes nothing
 * away from clicks already counted, as a Prometheus counter expects.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table click_counts (
      kind text not null check (kind in ('human', 'scanner')),
      n bigint not null
    )
  `.execute(db);
  // What is there already: live rows and what retention folded. The click function that counts is
  // applied right after the migrations (src/db/functions); clicks recorded meanwhile by a process
  // still running the previous code are not in the totals.
  await sql`lock table clicks in share mode`.execute(db);
  await sql`
    insert into click_counts (kind, n)
    select kind, count(*) from clicks group by kind
    union all
    select 'human', coalesce(sum(human), 0) from click_totals
    union all
    select 'scanner', coalesce(sum(scanner), 0) from click_totals
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists click_counts`.execute(db);
}
