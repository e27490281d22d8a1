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

/**
 * What joining through a reader's link did ("Subscribe again", the preferences page): lists joined
 * at once (single opt-in) and lists that became pending, waiting for the mailed link.
 */
export interface OptInOutcome {
  confirmed: number[];
  pending: number[];
  /** false when nothing became pending, or such a confirmation went to the address within the window. */
  confirmQueued: boolean;
}

/** The name "Subscribe again" used for it. */
export type ComeBackOutcome = OptInOutcome;

type Db = Kysely<Database> | Transaction<Database>;

/**
 * What a reader holding a signed link may see and change about themselves: their subscriptions,
 * name and topics. Every method is keyed by the subscriber id from a verified token.
 */
export class ReaderRepository {
  constructor(private readonly db: Db) {}

  async find(subscriberId: number): Promise<Reader | undefined> {
    return (await this.findMany([subscriberId])).get(subscriberId);
  }

  /** Readers by id, in one query (the outbox sender's batch); ids that no longer exist are absent. */
  async findMany(subscriberIds: number[]): Promise<Map<number, Reader>> {
    if (subscriberIds.length === 0) return new Map();
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
       where s.id = any(${subscriberIds}::bigint[])
    `.execute(this.db);
    return new Map(
      result.rows.map((row) => [
        Number(row.id),
        {
          id: Number(row.id),
          email: row.email,
          name: row.name,
          status: row.status,
          unmailable: row.reason ?? undefined,
          trackClicks: row.track_clicks,
        },
      ]),
    );
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

  /**
   * Many one-click unsubscribes in one statement (what UnsubscribeService gathers while the previous
   * batch is on its way): for each (subscriber, list), in order, whether this call left it (false:
   * already left, or no such subscription; a pair given twice is left by its first occurrence). The
   * rows are locked in one order (subscriber, list) before they are updated, so two batches that
   * share rows wait for each other instead of deadlocking.
   */
  async unsubscribeMany(pairs: { subscriberId: number; listId: number }[]): Promise<boolean[]> {
    const subscribers = pairs.map((p) => p.subscriberId);
    const lists = pairs.map((p) => p.listId);
    const result = await sql<{ subscriber_id: number; list_id: number }>`
      with target as (
        select s.subscriber_id, s.list_id
          from subscriptions s
          join unnest(${subscribers}::integer[], ${lists}::integer[]) as u(subscriber_id, list_id)
            on s.subscriber_id = u.subscriber_id and s.list_id = u.list_id
         where s.status <> 'unsubscribed'
         order by s.subscriber_id, s.list_id
           for update of s
      )
      update subscriptions s
         set status = 'unsubscribed', unsubscribed_at = now(), updated_at = now()
        from target t
       where s.subscriber_id = t.subscriber_id and s.list_id = t.list_id and s.status <> 'unsubscribed'
      returning s.subscriber_id, s.list_id
    `.execute(this.db);
    const left = new Set(result.rows.map((r) => `${r.subscriber_id}/${r.list_id}`));
    return pairs.map((p) => left.delete(`${p.subscriberId}/${p.listId}`));
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
   * Undoes an unsubscribe ("I changed my mind") by the list's opt-in rules (see `optIn`, the one
   * owner of that rule). Only subscriptions that exist, were left, and had been confirmed once come
   * back, so the unsubscribe link can never join a list the reader was not on; their topics stay.
   */
  resubscribe(
    subscriberId: number,
    listIds: number[],
    lang: string,
    confirmWindowSeconds: number,
  ): Promise<OptInOutcome> {
    return this.optIn(
      subscriberId,
      listIds.map((listId) => ({ listId })),
      { lang, confirmWindowSeconds, via: 'come_back' },
    );
  }

  /**
   * The lists ticked on the preferences page, by each list's opt-in rules (see `optIn`): a list
   * never joined or left is joined (single opt-in) or pending with a confirmation mail (double), a
   * confirmed or pending one keeps its status; every one takes the topics given.
   */
  joinLists(
    subscriberId: number,
    lists: { listId: number; topics: string[] }[],
    lang: string,
    confirmWindowSeconds: number,
  ): Promise<OptInOutcome> {
    return this.optIn(subscriberId, lists, { lang, confirmWindowSeconds, via: 'preferences' });
  }

  /**
   * Joining through a link the reader holds, by the list's opt-in rules, in one statement. Links in
   * mail (unsubscribe, preferences) are in every forwarded issue, so holding one proves nothing about
   * the address: a single-opt-in list is confirmed at once; on a double-opt-in list the subscription
   * becomes pending and a confirmation mail is queued in the same statement, for the lists that
   * became pending. A subscription already confirmed stays confirmed, a pending one stays pending
   * (its mail went out when it became pending). At most one such confirmation mail per address per
   * `confirmWindowSeconds`, whichever page asked (`via`): alternating "Unsubscribe" and "Subscribe
   * again", or unticking and ticking a list, cannot mail the reader in a loop (issue 11.4).
   *
   * `via: 'come_back'` (the unsubscribe page) only brings back subscriptions that exist, were left
   * and had been confirmed once, and keeps their topics; `via: 'preferences'` also joins lists the
   * reader has no subscription to (the service checks they are offered) and sets the topics given.
   * A row that would not change is not written.
   */
  private async optIn(
    subscriberId: number,
    lists: { listId: number; topics?: string[] }[],
    options: { lang: string; confirmWindowSeconds: number; via: 'come_back' | 'preferences' },
  ): Promise<OptInOutcome> {
    if (lists.length === 0) return { confirmed: [], pending: [], confirmQueued: false };
    const comeBackOnly = options.via === 'come_back';
    const wanted = JSON.stringify(lists.map((l) => ({ list_id: l.listId, topics: l.topics ?? null })));
    const result = await sql<{ confirmed: number[] | null; pending: number[] | null; mailed: number }>`
      with wanted as (
        select distinct on (w.list_id) w.list_id, w.topics, l.opt_in
          from jsonb_to_recordset(${wanted}::jsonb) as w(list_id int, topics text[])
          join lists l on l.id = w.list_id
         order by w.list_id
      ),
      prior as (
        select sn.list_id, sn.status from subscriptions sn
         where sn.subscriber_id = ${subscriberId} and sn.list_id in (select list_id from wanted)
      ),
      added as (
        insert into subscriptions (subscriber_id, list_id, status, topics, source, confirmed_at)
        select ${subscriberId}, w.list_id,
               case when w.opt_in = 'single' then 'confirmed' else 'pending' end,
               coalesce(w.topics, '{}'), ${options.via}::text,
               case when w.opt_in = 'single' then now() end
          from wanted w
         where not ${comeBackOnly}::boolean
           and exists (select 1 from subscribers s where s.id = ${subscriberId})
        on conflict (subscriber_id, list_id) do nothing
        returning list_id, status
      ),
      changed as (
        update subscriptions sn
           set status = case when sn.status = 'unsubscribed' and w.opt_in = 'single' then 'confirmed'
                             when sn.status = 'unsubscribed' then 'pending'
                             when sn.status = 'pending' and w.opt_in = 'single' then 'confirmed'
                             else sn.status end,
               confirmed_at = case when w.opt_in = 'single' and sn.status <> 'confirmed'
                                   then coalesce(sn.confirmed_at, now()) else sn.confirmed_at end,
               unsubscribed_at = case when sn.status = 'unsubscribed' then null else sn.unsubscribed_at end,
               topics = coalesce(w.topics, sn.topics),
               updated_at = now()
          from wanted w
         where sn.subscriber_id = ${subscriberId} and sn.list_id = w.list_id
           and (not ${comeBackOnly}::boolean or (sn.status = 'unsubscribed' and sn.confirmed_at is not null))
           and (sn.status = 'unsubscribed' or (sn.status = 'pending' and w.opt_in = 'single')
                or sn.topics is distinct from coalesce(w.topics, sn.topics))
        returning sn.list_id, sn.status
      ),
      moved as (
        select list_id, status from added
        union all
        select c.list_id, c.status from changed c join prior p using (list_id) where p.status <> c.status
      ),
      mail as (
        insert into outbox (kind, to_email, subscriber_id, payload)
        select 'confirm', s.email, s.id,
          jsonb_build_object(
            'lists', (select jsonb_agg(list_id order by list_id) from moved where status = 'pending'),
            'lang', ${options.lang}::text, 'via', ${options.via}::text)
          from subscribers s
         where s.id = ${subscriberId} and exists (select 1 from moved where status = 'pending')
           and not exists (
             select 1 from outbox o
              where o.to_email = s.email and o.kind = 'confirm' and o.payload ? 'via'
                and o.created_at > now() - make_interval(secs => ${options.confirmWindowSeconds}::int)
           )
        returning id
      )
      select (select array_agg(list_id order by list_id) from moved where status = 'confirmed') as confirmed,
             (select array_agg(list_id order by list_id) from moved where status = 'pending') as pending,
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
}
