import { type Kysely, sql } from 'kysely';

/**
 * The public archive finds an issue by its list and its digest's day (`/lists/<slug>/<day>-<title>`).
 * The day lives in the compiled template (JSON of 25 KB and more): without this index every lookup
 * read and unpacked the template of every issue of the list.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index issues_archive_day_idx on issues (list_id, (template->>'day')) where status in ('sending', 'sent')`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists issues_archive_day_idx`.execute(db);
}
