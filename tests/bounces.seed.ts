import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../src/db/db.types.ts';

/** Rows the bounce tests need, inserted directly: a list or two, subscribers, an issue, sent deliveries. */

export interface SeededDelivery {
  id: number;
  email: string;
  subscriberId: number;
  issueId: number;
  providerMessageId: string;
  messageId: string;
}

export async function seedIssue(
  db: Kysely<Database>,
  emails: string[],
  options: { lists?: string[] } = {},
): Promise<{ issueId: number; listIds: number[]; deliveries: SeededDelivery[] }> {
  const listIds: number[] = [];
  for (const slug of options.lists ?? [`list-${randomUUID().slice(0, 8)}`]) {
    const list = await db
      .insertInto('lists')
      .values({ slug, name: slug })
      .onConflict((oc) => oc.column('slug').doUpdateSet({ name: slug }))
      .returning('id')
      .executeTakeFirstOrThrow();
    listIds.push(list.id);
  }
  const issue = await db
    .insertInto('issues')
    .values({
      list_id: listIds[0]!,
      status: 'sending',
      subject: 'AI Daily',
      title: 'AI Daily',
      digest_source: '# AI Daily',
      digest_hash: randomUUID(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const deliveries: SeededDelivery[] = [];
  for (const email of emails) {
    const subscriber = await db
      .insertInto('subscribers')
      .values({ email })
      .onConflict((oc) => oc.column('email').doUpdateSet({ updated_at: sql`now()` }))
      .returning('id')
      .executeTakeFirstOrThrow();
    for (const listId of listIds) {
      await db
        .insertInto('subscriptions')
        .values({
          subscriber_id: subscriber.id,
          list_id: listId,
          status: 'confirmed',
          confirmed_at: new Date(),
        })
        .onConflict((oc) => oc.columns(['subscriber_id', 'list_id']).doNothing())
        .execute();
    }
    const providerMessageId = `0100019${randomUUID().replace(/-/g, '')}-000000`;
    const messageId = `<${randomUUID()}@news.example.org>`;
    const delivery = await db
      .insertInto('deliveries')
      .values({
        issue_id: issue.id,
        subscriber_id: subscriber.id,
        email,
        status: 'sent',
        sent_at: new Date(),
        provider_message_id: providerMessageId,
        message_id: messageId,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    // Deliveries have no insert trigger: whoever inserts them writes their count (as enqueue does).
    await db.insertInto('delivery_counts').values({ issue_id: issue.id, status: 'sent', n: 1 }).execute();
    deliveries.push({
      id: delivery.id,
      email,
      subscriberId: subscriber.id,
      issueId: issue.id,
      providerMessageId,
      messageId,
    });
  }
  return { issueId: issue.id, listIds, deliveries };
}

/** Everything a bounce could change, as one comparable value. */
export async function snapshot(db: Kysely<Database>): Promise<unknown> {
  const [events, sns, suppressions, deliveries, subscriptions] = await Promise.all([
    db.selectFrom('events').select(['external_id', 'type', 'email']).orderBy('id').execute(),
    db.selectFrom('sns_messages').select('message_id').orderBy('message_id').execute(),
    db.selectFrom('suppressions').select(['email', 'reason']).orderBy('email').execute(),
    db.selectFrom('deliveries').select(['id', 'status', 'delivered_at']).orderBy('id').execute(),
    db
      .selectFrom('subscriptions')
      .select(['subscriber_id', 'list_id', 'status'])
      .orderBy('subscriber_id')
      .orderBy('list_id')
      .execute(),
  ]);
  return { events, sns, suppressions, deliveries, subscriptions };
}
