import { type Kysely, sql } from 'kysely';

/**
 * The schema for the whole product: lists and subscribers, issues and their deliveries, bounce and
 * complaint events, the suppression list and the transactional outbox. Frozen once landed: later
 * changes go in new files. Written against Kysely<any> so it never depends on today's src/ types.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('lists')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('slug', 'text', (c) => c.notNull().unique().check(sql`slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('opt_in', 'text', (c) =>
      c.notNull().defaultTo('double').check(sql`opt_in in ('single', 'double')`),
    )
    .addColumn('language', 'text', (c) => c.notNull().defaultTo('en'))
    .addColumn('topics', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('is_public', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Addresses are stored canonical (lower case, IDN domains as punycode), so one plain unique index
  // makes them unique case-insensitively and every lookup can use it.
  await db.schema
    .createTable('subscribers')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('email', 'text', (c) => c.notNull().unique().check(sql`email = lower(email)`))
    .addColumn('name', 'text')
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('active').check(sql`status in ('active', 'blocklisted')`),
    )
    .addColumn('attributes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('subscriptions')
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('list_id', 'integer', (c) => c.notNull().references('lists.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'confirmed', 'unsubscribed')`),
    )
    // Empty means "everything the list sends"; otherwise only issues whose categories meet these.
    .addColumn('topics', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('cli'))
    .addColumn('ip', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('unsubscribed_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('subscriptions_pkey', ['subscriber_id', 'list_id'])
    .execute();
  await db.schema
    .createIndex('subscriptions_list_status_idx')
    .on('subscriptions')
    .columns(['list_id', 'status', 'subscriber_id'])
    .execute();

  await db.schema
    .createTable('issues')
    .addColumn('id', 'integer', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('list_id', 'integer', (c) => c.notNull().references('lists.id'))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('draft')
        .check(sql`status in ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')`),
    )
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('lang', 'text', (c) => c.notNull().defaultTo('en'))
    .addColumn('categories', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('digest_path', 'text')
    .addColumn('digest_source', 'text', (c) => c.notNull())
    .addColumn('digest_hash', 'text', (c) => c.notNull())
    .addColumn('digest_date', 'timestamptz')
    // Set when the scheduler created the issue from DIGESTS_DIR: file name + content hash, so each
    // digest file becomes exactly one issue however many processes look at the folder.
    .addColumn('auto_key', 'text', (c) => c.unique())
    // The compiled email: html and text with per-recipient slots, compiled once per issue.
    .addColumn('template', 'jsonb')
    .addColumn('send_at', 'timestamptz')
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('pause_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('issues_status_send_at_idx')
    .on('issues')
    .columns(['status', 'send_at'])
    .execute();

  // One row per (issue, recipient), frozen at enqueue. The address is copied so that sending never
  // needs a join, and so an erased subscriber's rows can be scrubbed without losing the counts.
  await db.schema
    .createTable('deliveries')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('issue_id', 'integer', (c) => c.notNull().references('issues.id').onDelete('cascade'))
    .addColumn('subscriber_id', 'bigint', (c) => c.references('subscribers.id').onDelete('set null'))
    .addColumn('email', 'text')
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('queued')
        .check(
          sql`status in ('queued', 'sending', 'sent', 'delivered', 'failed', 'bounced', 'complained', 'suppressed', 'unsubscribed')`,
        ),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('lease_until', 'timestamptz')
    .addColumn('leased_by', 'text')
    // How many times this delivery was taken back from a worker whose lease ran out mid-send.
    .addColumn('crash_resends', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('message_id', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('last_error', 'text')
    .addColumn('sent_at', 'timestamptz')
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('deliveries_issue_subscriber_key', ['issue_id', 'subscriber_id'])
    .execute();
  // The claim query scans only what is still to send, so a finished million-row issue costs nothing.
  await db.schema
    .createIndex('deliveries_claim_idx')
    .on('deliveries')
    .columns(['issue_id', 'next_attempt_at'])
    .where(sql<boolean>`status in ('queued', 'sending')`)
    .execute();
  await db.schema.createIndex('deliveries_message_id_idx').on('deliveries').column('message_id').execute();
  await db.schema
    .createIndex('deliveries_provider_message_id_idx')
    .on('deliveries')
    .column('provider_message_id')
    .execute();
  await db.schema.createIndex('deliveries_subscriber_idx').on('deliveries').column('subscriber_id').execute();

  await db.schema
    .createTable('events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('type', 'text', (c) =>
      c.notNull().check(sql`type in ('hard_bounce', 'soft_bounce', 'complaint', 'delivery')`),
    )
    .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('ses', 'smtp', 'dsn', 'manual')`))
    // The provider's id for the notification (SNS MessageId, DSN Message-ID): replays are ignored.
    .addColumn('external_id', 'text', (c) => c.unique())
    .addColumn('email', 'text')
    .addColumn('subscriber_id', 'bigint', (c) => c.references('subscribers.id').onDelete('set null'))
    .addColumn('delivery_id', 'bigint', (c) => c.references('deliveries.id').onDelete('set null'))
    .addColumn('issue_id', 'integer', (c) => c.references('issues.id').onDelete('set null'))
    .addColumn('detail', 'text')
    .addColumn('payload', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('events_email_type_idx')
    .on('events')
    .columns(['email', 'type', 'occurred_at'])
    .execute();
  await db.schema.createIndex('events_issue_idx').on('events').columns(['issue_id', 'type']).execute();

  await db.schema
    .createTable('suppressions')
    .addColumn('email', 'text', (c) => c.primaryKey().check(sql`email = lower(email)`))
    .addColumn('reason', 'text', (c) =>
      c
        .notNull()
        .check(
          sql`reason in ('hard_bounce', 'soft_bounce_limit', 'complaint', 'erased', 'manual', 'unsubscribed')`,
        ),
    )
    .addColumn('note', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Transactional mail (confirmation, welcome, goodbye) is written here in the same transaction as the
  // change that causes it, and a sender drains it: no request ever waits on SMTP.
  await db.schema
    .createTable('outbox')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('kind', 'text', (c) =>
      c.notNull().check(sql`kind in ('confirm', 'welcome', 'goodbye', 'test')`),
    )
    .addColumn('to_email', 'text', (c) => c.notNull())
    .addColumn('subscriber_id', 'bigint', (c) => c.references('subscribers.id').onDelete('cascade'))
    .addColumn('payload', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('pending').check(sql`status in ('pending', 'sending', 'sent', 'failed')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('lease_until', 'timestamptz')
    .addColumn('message_id', 'text')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('sent_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('outbox_pending_idx')
    .on('outbox')
    .column('next_attempt_at')
    .where(sql<boolean>`status in ('pending', 'sending')`)
    .execute();
  await db.schema
    .createIndex('outbox_to_kind_idx')
    .on('outbox')
    .columns(['to_email', 'kind', 'created_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'outbox',
    'suppressions',
    'events',
    'deliveries',
    'issues',
    'subscriptions',
    'subscribers',
    'lists',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
