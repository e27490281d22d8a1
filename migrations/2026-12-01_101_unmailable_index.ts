import type { Kysely } from 'kysely';
import { sql } from 'kysely';

/**
 * The addresses of subscribers who may not be mailed (blocklisted) are one branch of
 * digestmail_unmailable_addresses() (src/db/functions/), which every recipient query anti-joins:
 * this small partial index lets that branch be read without scanning all subscribers.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('subscribers_not_active_email_idx')
    .on('subscribers')
    .column('email')
    .where(sql<boolean>`status <> 'active'`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('subscribers_not_active_email_idx').execute();
}
