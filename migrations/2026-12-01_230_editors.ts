import { type Kysely, sql } from 'kysely';

/**
 * The editor console's people and their traces: editors (no passwords: they sign in with one-time
 * links), the links themselves (only a SHA-256 of each is stored, so a database dump signs nobody
 * in), sessions (again hashed), and the audit log of every change an editor makes. An audit row keeps
 * the actor's address as text, so it outlives the editor it names.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('editors')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('email', 'text', (c) => c.notNull().unique().check(sql`email = lower(email)`))
    .addColumn('name', 'text')
    .addColumn('role', 'text', (c) => c.notNull().defaultTo('editor').check(sql`role in ('admin', 'editor')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('editor_sign_in_links')
    .addColumn('token_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('editor_id', 'integer', (c) => c.notNull().references('editors.id').onDelete('cascade'))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('editor_sign_in_links_expires_idx')
    .on('editor_sign_in_links')
    .column('expires_at')
    .execute();

  await db.schema
    .createTable('editor_sessions')
    .addColumn('id_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('editor_id', 'integer', (c) => c.notNull().references('editors.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('editor_sessions_editor_idx')
    .on('editor_sessions')
    .column('editor_id')
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('editor_id', 'integer', (c) => c.references('editors.id').onDelete('set null'))
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text')
    .addColumn('detail', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.createIndex('audit_log_at_idx').on('audit_log').column('at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_log').ifExists().execute();
  await db.schema.dropTable('editor_sessions').ifExists().execute();
  await db.schema.dropTable('editor_sign_in_links').ifExists().execute();
  await db.schema.dropTable('editors').ifExists().execute();
}
