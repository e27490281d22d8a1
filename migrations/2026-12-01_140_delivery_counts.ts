import { type Kysely, sql } from 'kysely';

/**
 * Counts of deliveries per issue and status, and of bounce/complaint events per type, kept as the
 * rows change, so /metrics, `issue status` and the editor console read a few rows per issue instead
 * of counting a million deliveries (a scrape took 0.7–1.1 s at 1 M deliveries and slowed signups).
 *
 * Design: both tables hold signed deltas; the count is `sum(n)` per key. Writers only ever INSERT
 * delta rows, so concurrent writers (many workers' batch commits, a thousand webhook events a
 * second) never wait on one hot counter row, and no two transactions can deadlock over counters.
 * `digestmail_compact_counts()` folds the deltas into one row per key now and then (the scheduler
 * tick, each scrape); reads are right before and after it.
 *
 * Who writes them:
 *   - UPDATE and DELETE of deliveries: statement-level triggers with transition tables (one insert
 *     of a few grouped rows per statement, whatever its size: the worker's batch commits, claims,
 *     the SES/DSN event function, erasure, pause/cancel);
 *   - INSERT of deliveries: no trigger. Enqueue writes a million rows in one statement, and even a
 *     statement-level trigger would copy them all into a transition table (~40 % slower enqueue);
 *     enqueue knows its count and writes its own delta in the same transaction;
 *   - INSERT of events: a statement-level trigger (events are inserted a few at a time). Event
 *     counts only grow: erasing a person deletes their events, not the totals.
 * `resent` counts the deliveries of that status that a worker took over after a lost lease
 * (crash_resends > 0), shown as `resent_after_crash`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table delivery_counts (
      issue_id integer not null references issues (id) on delete cascade,
      status text not null,
      n bigint not null,
      resent bigint not null default 0
    )
  `.execute(db);
  await sql`create index delivery_counts_issue_idx on delivery_counts (issue_id)`.execute(db);
  await sql`
    create table event_counts (
      type text not null,
      n bigint not null
    )
  `.execute(db);

  await sql`
    create function digestmail_count_delivery_updates() returns trigger
    language plpgsql as $fn$
    begin
      insert into delivery_counts (issue_id, status, n, resent)
      select c.issue_id, c.status, sum(c.n), sum(c.resent)
        from (
          select issue_id, status, count(*) as n, count(*) filter (where crash_resends > 0) as resent
            from new_rows group by issue_id, status
          union all
          select issue_id, status, -count(*), -count(*) filter (where crash_resends > 0)
            from old_rows group by issue_id, status
        ) c
       group by c.issue_id, c.status
      having sum(c.n) <> 0 or sum(c.resent) <> 0;
      return null;
    end
    $fn$
  `.execute(db);
  await sql`
    create trigger deliveries_count_updates
      after update on deliveries
      referencing old table as old_rows new table as new_rows
      for each statement execute function digestmail_count_delivery_updates()
  `.execute(db);

  // Deleting an issue deletes its deliveries by cascade, and its counts with it: only deltas for an
  // issue that is still there are written.
  await sql`
    create function digestmail_count_delivery_deletes() returns trigger
    language plpgsql as $fn$
    begin
      insert into delivery_counts (issue_id, status, n, resent)
      select o.issue_id, o.status, -count(*), -count(*) filter (where o.crash_resends > 0)
        from old_rows o
       where exists (select 1 from issues i where i.id = o.issue_id)
       group by o.issue_id, o.status;
      return null;
    end
    $fn$
  `.execute(db);
  await sql`
    create trigger deliveries_count_deletes
      after delete on deliveries
      referencing old table as old_rows
      for each statement execute function digestmail_count_delivery_deletes()
  `.execute(db);

  await sql`
    create function digestmail_count_event_inserts() returns trigger
    language plpgsql as $fn$
    begin
      insert into event_counts (type, n) select type, count(*) from new_rows group by type;
      return null;
    end
    $fn$
  `.execute(db);
  await sql`
    create trigger events_count_inserts
      after insert on events
      referencing new table as new_rows
      for each statement execute function digestmail_count_event_inserts()
  `.execute(db);

  // One row per key again. Whoever finds another compaction under way skips (the advisory lock),
  // so compactions never queue behind each other; deltas written meanwhile are kept for the next.
  await sql`
    create function digestmail_compact_counts() returns void
    language plpgsql as $fn$
    begin
      if not pg_try_advisory_xact_lock(hashtext('digestmail_compact_counts')) then
        return;
      end if;
      with gone as (delete from delivery_counts returning issue_id, status, n, resent)
      insert into delivery_counts (issue_id, status, n, resent)
      select issue_id, status, sum(n), sum(resent) from gone
       group by issue_id, status
      having sum(n) <> 0 or sum(resent) <> 0;
      with gone as (delete from event_counts returning type, n)
      insert into event_counts (type, n) select type, sum(n) from gone group by type;
    end
    $fn$
  `.execute(db);

  // What is there already. The triggers exist from here on, in this same transaction, and hold a
  // lock on both tables until it commits, so no change falls between the count and the triggers.
  await sql`
    insert into delivery_counts (issue_id, status, n, resent)
    select issue_id, status, count(*), count(*) filter (where crash_resends > 0)
      from deliveries group by issue_id, status
  `.execute(db);
  await sql`insert into event_counts (type, n) select type, count(*) from events group by type`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists events_count_inserts on events`.execute(db);
  await sql`drop trigger if exists deliveries_count_deletes on deliveries`.execute(db);
  await sql`drop trigger if exists deliveries_count_updates on deliveries`.execute(db);
  await sql`drop function if exists digestmail_compact_counts`.execute(db);
  await sql`drop function if exists digestmail_count_event_inserts`.execute(db);
  await sql`drop function if exists digestmail_count_delivery_deletes`.execute(db);
  await sql`drop function if exists digestmail_count_delivery_updates`.execute(db);
  await sql`drop table if exists event_counts`.execute(db);
  await sql`drop table if exists delivery_counts`.execute(db);
}
