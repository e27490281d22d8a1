import { type Kysely, sql } from 'kysely';

/**
 * deliveries.issue_id loses its foreign key, like subscriber_id in migration 050: the key ran a
 * trigger per inserted row (a lookup of the issue, FOR KEY SHARE), queued for the end of the
 * statement, a million times per enqueue, for rows whose issue the same INSERT … SELECT reads from
 * issues (locked by the transaction that starts the issue). Enqueue is the only writer of deliveries.
 *
 * What the key's ON DELETE CASCADE did is kept by one statement-level trigger on issues: deleting
 * issues deletes their deliveries (and, through those, what refers to them), once per statement.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries drop constraint if exists deliveries_issue_id_fkey`.execute(db);
  await sql`
    create function digestmail_delete_issue_deliveries() returns trigger
    language plpgsql as $fn$
    begin
      delete from deliveries d using old_rows o where d.issue_id = o.id;
      return null;
    end
    $fn$
  `.execute(db);
  await sql`
    create trigger issues_delete_deliveries
      after delete on issues
      referencing old table as old_rows
      for each statement execute function digestmail_delete_issue_deliveries()
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists issues_delete_deliveries on issues`.execute(db);
  await sql`drop function if exists digestmail_delete_issue_deliveries`.execute(db);
  await sql`delete from deliveries d where not exists (select 1 from issues i where i.id = d.issue_id)`.execute(
    db,
  );
  await sql`alter table deliveries add constraint deliveries_issue_id_fkey
             foreign key (issue_id) references issues (id) on delete cascade`.execute(db);
}
