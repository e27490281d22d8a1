import { type Kysely, sql } from 'kysely';

/**
 * Every delivery row paid for an entry in deliveries_subscriber_idx three times (written at enqueue,
 * again at claim and again when its result is recorded, since neither update can be HOT), and that
 * index grows with every issue ever sent, so at scale each entry lands on a random page. Only two
 * rare queries read deliveries by subscriber: the console's page of one person and the erasure of a
 * person. Both now probe the unique key (issue_id, subscriber_id) once per issue, a few thousand
 * index probes at most (src/subscriptions/subscribers.repository.ts).
 *
 * The other indexes stay, each for the queries that need it: the primary key; the unique key (one
 * delivery per reader and issue, and the per-subscriber probes above); the claim index (partial:
 * queued and sending rows only); Message-ID and provider id (partial since migration 050: DSN and
 * SES events find their delivery by them; written only when a result is recorded).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists deliveries_subscriber_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists deliveries_subscriber_idx on deliveries (subscriber_id)`.execute(db);
}
