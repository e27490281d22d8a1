import { type Kysely, sql } from 'kysely';

/**
 * Every SNS message the webhook has acted on, keyed by the SNS MessageId, so a replayed or re-delivered
 * message (SNS delivers at least once) is recognised and changes nothing the second time. Events have
 * their own unique external_id, but a message can carry no event at all (a SubscriptionConfirmation, a
 * Send or Open event) and still must not be acted on twice.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sns_messages')
    .addColumn('message_id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('topic_arn', 'text', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('sns_messages_received_at_idx')
    .on('sns_messages')
    .column('received_at')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sns_messages').ifExists().execute();
}
