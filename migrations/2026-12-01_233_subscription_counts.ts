import { type Kysely, sql } from 'kysely';

/**
 * Counts of subscriptions per list and status, kept as rows change, so the console's dashboard and
 * `list ls` read a few rows per list instead of counting a million subscriptions per request. The
 * same design as delivery_counts (migration 140): writers insert signed delta rows from
 * statement-level triggers (one grouped insert per statement, however many rows: an import batch, a
 * signup, an erasure's cascade), readers sum them, and `digestmail_compact_subscription_counts()`
 * folds the deltas into one row per key now and then.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table subscription_counts (
      list_id integer not null references lists (id) on delete cascade,
      status text not null,
      n bigint not null
    )
  `.execute(db);
  await sql`create index subscription_counts_list_idx on subscription_counts (list_id)`.execute(db);

  await sql`
    create function digestmail_count_subscription_changes() returns trigger
    language plpgsql as $fn$
    begin
      if tg_op = 'INSERT' then
        insert into subscription_counts (list_id, status, n)
        select list_id, status, count(*) from new_rows group by list_id, status;
      elsif tg_op = 'DELETE' then
        -- a list deleted with its subscriptions takes its counts with it
        insert into subscription_counts (list_id, status, n)
        select o.list_id, o.status, -count(*) from old_rows o
         where exists (select 1 from lists l where l.id = o.list_id)
         group by o.list_id, o.status;
      else
        insert into subscription_counts (list_id, status, n)
        select c.list_id, c.status, sum(c.n)
          from (
            select list_id, status, count(*) as n from new_rows group by list_id, status
            union all
            select list_id, status, -count(*) from old_rows group by list_id, status
          ) c
         group by c.list_id, c.status
        having sum(c.n) <> 0;
      end if;
      return null;
    end
    $fn$
  `.execute(db);
  await sql`
    create trigger subscriptions_count_inserts after insert on subscriptions
      referencing new table as new_rows
      for each statement execute function digestmail_count_subscription_changes()
  `.execute(db);
  await sql`
    create trigger subscriptions_count_updates after update on subscriptions
      referencing old table as old_rows new table as new_rows
      for each statement execute function digestmail_count_subscription_changes()
  `.execute(db);
  await sql`
    create trigger subscriptions_count_deletes after delete on subscriptions
      referencing old table as old_rows
      for each statement execute function digestmail_count_subscription_changes()
  `.execute(db);

  await sql`
    create function digestmail_compact_subscription_counts() returns void
    language plpgsql as $fn$
    begin
      if not pg_try_advisory_xact_lock(hashtext('digestmail_compact_subscription_counts')) then
        return;
      end if;
      with gone as (delete from subscription_counts returning list_id, status, n)
      insert into subscription_counts (list_id, status, n)
      select list_id, status, sum(n) from gone group by list_id, status having sum(n) <> 0;
    end
    $fn$
  `.execute(db);

  await sql`
    insert into subscription_counts (list_id, status, n)
    select list_id, status, count(*) from subscriptions group by list_id, status
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists subscriptions_count_deletes on subscriptions`.execute(db);
  await sql`drop trigger if exists subscriptions_count_updates on subscriptions`.execute(db);
  await sql`drop trigger if exists subscriptions_count_inserts on subscriptions`.execute(db);
  await sql`drop function if exists digestmail_compact_subscription_counts`.execute(db);
  await sql`drop function if exists digestmail_count_subscription_changes`.execute(db);
  await sql`drop table if exists subscription_counts`.execute(db);
}
