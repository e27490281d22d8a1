import { type Kysely, sql } from 'kysely';

/**
 * digestmail_signup and digestmail_signup_batch (src/db/functions/50_signup.sql, 51_signup_batch.sql)
 * take a lease for the confirmation mail and return the subscriber and that mail's id, so serve can
 * send the mail at once without claiming it back. PostgreSQL cannot change a function's parameters
 * or result columns in place: this drops the versions of before, and the function files, applied
 * right after the migrations, create the new ones. A process still running the previous code finds
 * no function of its signature until it is restarted with this one.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists digestmail_signup_batch(jsonb)`.execute(db);
  await sql`
    drop function if exists digestmail_signup(text, text, int[], text, text, text[], int[], int[], text, int)
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // The function files define the functions: forgetting that they were applied makes the next
  // migrate (of whichever code runs it) create its own versions again.
  await sql`drop function if exists digestmail_signup_batch(jsonb)`.execute(db);
  await sql`
    drop function if exists digestmail_signup(text, text, int[], text, text, text[], int[], int[], text, int, int)
  `.execute(db);
  await sql`delete from sql_functions where file in ('50_signup.sql', '51_signup_batch.sql')`.execute(db);
}
