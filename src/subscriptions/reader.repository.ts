import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, SubscriberStatus, SubscriptionStatus, SuppressionReason } from '../db/db.types.ts';

export interface Reader {
  id: number;
  email: string;
  name: string | null;
  status: SubscriberStatus;
  /** Why the address may not be mailed (a suppression reason, or `blocklisted`); undefined when it may. */
  unmailable: SuppressionReason | 'blocklisted' | undefined;
  /** False when the reader turned click counting off for themselves. */
  trackClicks: boolean;
}

export interface ReaderList {
  listId: number;
  slug: string;
  name: string;
  description: string;
  language: string;
  /** The subscription, when the reader has one to this list. */
  status: SubscriptionStatus | undefined;
  /** Topics chosen; empty means everything the list sends. */
  chosenTopics: string[];
  /** The list's configured topics, then the categories of its past issues. */
  offeredTopics: string[];
  /** Whether the list counts clicks (then the page offers to turn it off). */
  trackClicks: boolean;
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * What a reader holding a signed link may see and change about themselves: their subscriptions,
 * name and topics. Every method is keyed by the subscriber id from a verified token.
 */
export class ReaderRepository {
  constructor(private readonly db: Db) {}

  async find(subscriberId: number): Promise<Reader | undefined> {
    // The reason comes from the one rule of who may receive mail (src/db/functions/).
    const result = await sql<{
      id: number;
      email: string;
      name: string | null;
      status: SubscriberStatus;
      track_clicks: boolean;
      reason: SuppressionReason | 'blocklisted' | null;
    }>`
      select s.id, s.email, s.name, s.status, s.track_clicks,
             (select u.reason from digestmail_unmailable_addresses() u
               where u.email = s.email order by u.reason = 'blocklisted' limit 1) as reason
        from subscribers s
       where s.id = ${subscriberId}
    `.execute(this.db);
    const row = result.rows[0];
    if (!row) return undefined;
    return {
      id: Number(row.id),
      email: row.email,
      name: row.name,
      status: row.status,
      unmailable: row.reason ?? undefined,
      trackClicks: row.track_clicks,
    };
  }

  async subscriptionStatus(subscriberId: number, listId: number): Promise<SubscriptionStatus | undefined> {
    const row = await this.db
      .selectFrom('subscriptions')
      .select('status')
      .where('subscriber_id', '=', subscriberId)
      .where('list_id', '=', listId)
      .executeTakeFirst();
    return row?.status;
  }

  /**
   * Leaves one list. One statement and idempotent, so the RFC 8058 POST a mail client makes (maybe
   * twice) is answered at once. Returns whether a subscription changed.
   */
  async unsubscribe(subscriberId: number, listId: number): Promise<boolean> {
    const result = await this.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed', unsubscribed_at: sql`now()`, updated_at: sql`now()` })
      .where('subscriber_id', '=', subscriberId)
      .where('list_id', '=', listId)
      .where('status', '<>', 'unsubscribed')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Leaves every list; returns the lists left by this call. */
  async unsubscribeAll(subscriberId: number): Promise<number[]> {
    const rows = await this.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed', unsubscribed_at: sql`now()`, updated_at: sql`now()` })
      .where('subscriber_id', '=', subscriberId)
      .where('status', '<>', 'unsubscribed')
      .returning('list_id')
      .execute();
    return rows.map((r) => r.list_id).sort((a, b) => a - b);
  }

  /**
   * Undoes an unsubscribe ("I changed my mind"): only subscriptions that exist and were left come
   * back, so the link can never join a list the reader was not on.
   */
  async resubscribe(subscriberId: number, listIds: number[]): Promise<number[]> {
    if (listIds.length === 0) return [];
    const rows = await this.db
      .updateTable('subscriptions')
      .set({
        status: 'confirmed',
        confirmed_at: sql`coalesce(confirmed_at, now())`,
        unsubscribed_at: null,
        updated_at: sql`now()`,
      })
      .where('subscriber_id', '=', subscriberId)
      .where('list_id', 'in', listIds)
      .where('status', '=', 'unsubscribed')
      // Only lists the reader had confirmed once: coming back is no way around double opt-in.
      .where('confirmed_at', 'is not', null)
      .returning('list_id')
      .execute();
    return rows.map((r) => r.list_id).sort((a, b) => a - b);
  }

  /** Public lists and every list the reader has a subscription to, with the topics each offers. */
  async lists(subscriberId: number): Promise<ReaderList[]> {
    const rows = await this.db
      .selectFrom('lists as l')
      .leftJoin('subscriptions as sn', (join) =>
        join.onRef('sn.list_id', '=', 'l.id').on('sn.subscriber_id', '=', subscriberId),
      )
      .select([
        'l.id',
        'l.slug',
        'l.name',
        'l.description',
        'l.language',
        'l.topics',
        'l.track_clicks',
        'sn.status',
        'sn.topics as chosen',
      ])
      .where((eb) => eb.or([eb('l.is_public', '=', true), eb('sn.subscriber_id', 'is not', null)]))
      .orderBy('l.name')
      .orderBy('l.id')
      .execute();
    if (rows.length === 0) return [];
    const past = await this.db
      .selectFrom('issues')
      .select(['list_id', sql<string[]>`array_agg(distinct c order by c)`.as('categories')])
      .innerJoin(sql`unnest(issues.categories)`.as('c'), (join) => join.onTrue())
      .where(
        'list_id',
        'in',
        rows.map((r) => r.id),
      )
      .where('status', 'in', ['sending', 'sent'])
      .groupBy('list_id')
      .execute();
    const categories = new Map(past.map((p) => [p.list_id, p.categories]));
    return rows.map((row) => ({
      listId: row.id,
      slug: row.slug,
      name: row.name,
      description: row.description,
      language: row.language,
      status: row.status ?? undefined,
      chosenTopics: row.chosen ?? [],
      offeredTopics: [...new Set([...row.topics, ...(categories.get(row.id) ?? [])])],
      trackClicks: row.track_clicks,
    }));
  }

  async setTrackClicks(subscriberId: number, track: boolean): Promise<void> {
    await this.db
      .updateTable('subscribers')
      .set({ track_clicks: track, updated_at: sql`now()` })
      .where('id', '=', subscriberId)
      .execute();
  }

  async setName(subscriberId: number, name: string | null): Promise<void> {
    await this.db
      .updateTable('subscribers')
      .set({ name, updated_at: sql`now()` })
      .where('id', '=', subscriberId)
      .execute();
  }

  /**
   * Joins (confirmed: the reader holds a link mailed to the address, which is the proof double
   * opt-in asks for) or updates the topics of one list.
   */
  async join(subscriberId: number, listId: number, topics: string[]): Promise<void> {
    await this.db
      .insertInto('subscriptions')
      .values({
        subscriber_id: subscriberId,
        list_id: listId,
        status: 'confirmed',
        topics,
        source: 'preferences',
        confirmed_at: sql`now()`,
      })
      .onConflict((oc) =>
        oc.columns(['subscriber_id', 'list_id']).doUpdateSet({
          status: 'confirmed',
          topics,
          confirmed_at: sql`coalesce(subscriptions.confirmed_at, now())`,
          unsubscribed_at: null,
          updated_at: sql`now()`,
        }),
      )
      .execute();
  }
}
