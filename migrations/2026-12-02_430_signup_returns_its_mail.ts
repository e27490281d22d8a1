import { type Kysely, sql } from 'kysely';

/**
 * A batch of signups is applied by statements over the whole batch (src/db/functions/51_signup_batch.sql
 * and 50_signup.sql's digestmail_signup_round) instead of one call of digestmail_signup per signup,
 * and returns each signup's subscriber and confirmation mail, which it may write leased to the
 * caller's process (serve sends it at once without claiming it back). PostgreSQL cannot change a
 * function's result columns in place: this drops the functions of before, and the function files,
 * applied right after the migrations, create the new ones. A process still running the previous
 * code finds no function of its signature until it is restarted with this one.
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
  await sql`drop function if exists digestmail_signup_round(jsonb, int, boolean[])`.execute(db);
  await sql`delete from sql_functions where file in ('50_signup.sql', '51_signup_batch.sql')`.execute(db);
}
