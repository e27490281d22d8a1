import { type Kysely, sql } from 'kysely';

/**
 * Messages of a bounce mailbox that the IMAP watcher has taken, keyed the way IMAP names a message
 * for good: mailbox, UIDVALIDITY and UID (a UID is only meaningful under its UIDVALIDITY; when the
 * server resets it, every message counts as new and the events' own keys keep a re-read bounce from
 * counting twice). A row is `claimed` while one watcher ingests the message, so two processes
 * watching one mailbox never both take it, and `done` once ingested, so a message that is still
 * there after a crash between ingesting and moving it is moved, not ingested again. A claim whose
 * process died is taken over once stale.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table imap_messages (
      mailbox text not null,
      uid_validity bigint not null,
      uid bigint not null,
      state text not null check (state in ('claimed', 'done')),
      claimed_by text not null,
      claimed_at timestamptz not null default now(),
      result text,
      detail text,
      done_at timestamptz,
      primary key (mailbox, uid_validity, uid)
    )
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('imap_messages').ifExists().execute();
}
