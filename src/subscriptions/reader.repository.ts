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

/** What "Subscribe again" did: lists back at once (single opt-in), lists waiting for the mailed link. */
export interface ComeBackOutcome {
  confirmed: number[];
  pending: number[];
  /** false when nothing waits, or a come-back confirmation went to the address within the window. */
  confirmQueued: boolean;
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
   * Undoes an unsubscribe ("I changed my mind") by the list's opt-in rules, in one statement: a
   * single-opt-in list is confirmed again at once; a double-opt-in list becomes pending and a
   * confirmation mail is queued (the unsubscribe link is in every forwarded issue, so holding it
   * proves nothing about the address). Only subscriptions that exist, were left, and had been
   * confirmed once come back, so the link can never join a list the reader was not on nor get round
   * double opt-in. At most one such confirmation mail per address per `confirmWindowSeconds`:
   * alternating "Unsubscribe" and "Subscribe again" cannot mail the reader in a loop (issue 11.4).
   */
  async resubscribe(
    subscriberId: number,
    listIds: number[],
    lang: string,
    confirmWindowSeconds: number,
  ): Promise<ComeBackOutcome> {
    if (listIds.length === 0) return { confirmed: [], pending: [], confirmQueued: false };
    const result = await sql<{ confirmed: number[] | null; pending: number[] | null; mailed: number }>`
      with back as (
        update subscriptions sn
           set status = case when l.opt_in = 'single' then 'confirmed' else 'pending' end,
               unsubscribed_at = null, updated_at = now()
          from lists l
         where l.id = sn.list_id and sn.subscriber_id = ${subscriberId}
           and sn.list_id = any(${listIds}::int[])
           and sn.status = 'unsubscribed' and sn.confirmed_at is not null
        returning sn.list_id, sn.status
      ),
      mail as (
        insert into outbox (kind, to_email, subscriber_id, payload)
        select 'confirm', s.email, s.id,
          jsonb_build_object(
            'lists', (select jsonb_agg(list_id order by list_id) from back where status = 'pending'),
            'lang', ${lang}::text, 'via', 'come_back')
          from subscribers s
         where s.id = ${subscriberId} and exists (select 1 from back where status = 'pending')
           and not exists (
             select 1 from outbox o
              where o.to_email = s.email and o.kind = 'confirm' and o.payload ->> 'via' = 'come_back'
                and o.created_at > now() - make_interval(secs => ${confirmWindowSeconds}::int)
           )
        returning id
      )
      select (select array_agg(list_id order by list_id) from back where status = 'confirmed') as confirmed,
             (select array_agg(list_id order by list_id) from back where status = 'pending') as pending,
             (select count(*) from mail) as mailed
    `.execute(this.db);
    const row = result.rows[0]!;
    return {
      confirmed: row.confirmed ?? [],
      pending: row.pending ?? [],
      confirmQueued: Number(row.mailed) > 0,
    };
  }

  /** The names of the given lists, by name (for the pages that say which lists changed). */
  async listNames(ids: number[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('lists')
      .select('name')
      .where('id', 'in', ids)
      .orderBy('name')
      .execute();
    return rows.map((r) => r.name);
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
