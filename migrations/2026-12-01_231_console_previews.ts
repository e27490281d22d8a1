import { type Kysely, sql } from 'kysely';

/**
 * The console's live previews: the rendered HTML of a digest being written, kept for an hour so the
 * preview frames (their own requests, with their own sandboxing CSP) can load it from any process.
 * The ids are random, and each preview is readable only by the editor who made it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('console_previews')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('editor_id', 'integer', (c) => c.notNull().references('editors.id').onDelete('cascade'))
    .addColumn('html', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('console_previews_created_idx')
    .on('console_previews')
    .column('created_at')
    .execute();
  // The console finds subscribers by the start of their address; the unique index on email cannot
  // serve a LIKE prefix under a non-C collation, this one can.
  await sql`create index subscribers_email_prefix_idx on subscribers (email text_pattern_ops)`.execute(db);
  // The outbox learns one more kind of system mail: the console's sign-in link.
  await sql`alter table outbox drop constraint if exists outbox_kind_check`.execute(db);
  await sql`alter table outbox add constraint outbox_kind_check check (kind in ('confirm', 'welcome', 'goodbye', 'test', 'sign_in'))`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from outbox where kind = 'sign_in'`.execute(db);
  await sql`alter table outbox drop constraint if exists outbox_kind_check`.execute(db);
  await sql`alter table outbox add constraint outbox_kind_check check (kind in ('confirm', 'welcome', 'goodbye', 'test'))`.execute(
    db,
  );
  await sql`drop index if exists subscribers_email_prefix_idx`.execute(db);
  await db.schema.dropTable('console_previews').ifExists().execute();
}
