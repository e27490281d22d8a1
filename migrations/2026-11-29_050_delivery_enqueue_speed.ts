import { type Kysely, sql } from 'kysely';

/**
 * Enqueue writes one delivery row per recipient, a million at a time, so every per-row cost counts:
 * - the Message-ID indexes become partial (a queued row has no ids yet, and was indexing a NULL);
 * - deliveries.subscriber_id loses its foreign key: the check ran a trigger per inserted row, for
 *   rows that the same statement had just selected from subscribers. Erasing a subscriber clears
 *   their deliveries explicitly instead (subscribers.repository.ts), in the same transaction.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries drop constraint if exists deliveries_subscriber_id_fkey`.execute(db);
  await db.schema.dropIndex('deliveries_message_id_idx').execute();
  await db.schema.dropIndex('deliveries_provider_message_id_idx').execute();
  await db.schema
    .createIndex('deliveries_message_id_idx')
    .on('deliveries')
    .column('message_id')
    .where(sql<boolean>`message_id is not null`)
    .execute();
  await db.schema
    .createIndex('deliveries_provider_message_id_idx')
    .on('deliveries')
    .column('provider_message_id')
    .where(sql<boolean>`provider_message_id is not null`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('deliveries_message_id_idx').execute();
  await db.schema.dropIndex('deliveries_provider_message_id_idx').execute();
  await db.schema.createIndex('deliveries_message_id_idx').on('deliveries').column('message_id').execute();
  await db.schema
    .createIndex('deliveries_provider_message_id_idx')
    .on('deliveries')
    .column('provider_message_id')
    .execute();
  await sql`update deliveries d set subscriber_id = null
             where subscriber_id is not null
               and not exists (select 1 from subscribers s where s.id = d.subscriber_id)`.execute(db);
  await sql`alter table deliveries add constraint deliveries_subscriber_id_fkey
             foreign key (subscriber_id) references subscribers (id) on delete set null`.execute(db);
}
