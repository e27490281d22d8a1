import type { Kysely } from 'kysely';
import { sql } from 'kysely';

/**
 * The record of the repeatable SQL files in src/db/functions/ (functions applied with CREATE OR
 * REPLACE whenever a file's content changes, see src/db/sql-functions.ts): one row per file, with
 * the hash of the content last applied. The functions themselves are not created here, so changing
 * a business rule never needs a new migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sql_functions')
    .addColumn('file', 'text', (c) => c.primaryKey())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sql_functions').execute();
}
