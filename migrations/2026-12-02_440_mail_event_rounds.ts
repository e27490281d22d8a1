import { type Kysely, sql } from 'kysely';

/**
 * A batch of bounce, complaint and delivery events is applied by statements over the whole batch
 * (src/db/functions/51_apply_mail_events.sql and 50_apply_mail_event.sql's
 * digestmail_apply_mail_event_round) instead of one call of digestmail_apply_mail_event per event.
 * The one-event function's rules now live in the round function: this drops it, and the function
 * files, applied right after the migrations, create the new ones. A process still running the
 * previous code finds no function of its signature until it is restarted with this one.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    drop function if exists digestmail_apply_mail_event(text, text, text, text, text, text, text, bigint,
      text, text, text, jsonb, timestamptz, text, text[], text, text, text, text)
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // The function files define the functions: forgetting that they were applied makes the next
  // migrate (of whichever code runs it) create its own versions again.
  await sql`drop function if exists digestmail_apply_mail_events(jsonb, integer, integer)`.execute(db);
  await sql`
    drop function if exists digestmail_apply_mail_event_round(jsonb, integer, integer[], integer, integer)
  `.execute(db);
  await sql`
    delete from sql_functions where file in ('50_apply_mail_event.sql', '51_apply_mail_events.sql')
  `.execute(db);
}
