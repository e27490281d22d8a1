import { type Kysely, sql } from 'kysely';
import type { Database, SubscriberStatus, SubscriptionStatus, SuppressionReason } from '../db/db.types.ts';

export interface ImportRow {
  /** Canonical address (see email-address.ts). */
  email: string;
  name: string | null;
}

export interface ImportCounts {
  imported: number;
  updated: number;
  skipped: number;
}

export interface ExportRow {
  id: number;
  email: string;
  name: string | null;
  status: SubscriptionStatus;
  subscribedAt: Date;
}

export interface SubscriberWithSubscription {
  id: number;
  email: string;
  name: string | null;
  subscriberStatus: SubscriberStatus;
  subscriptionStatus: SubscriptionStatus;
  created: boolean;
}

export interface SubscriberMatch {
  id: number;
  email: string;
  name: string | null;
  status: SubscriberStatus;
  createdAt: Date;
}

export interface SubscriberDetail extends SubscriberMatch {
  subscriptions: {
    listSlug: string;
    listName: string;
    status: SubscriptionStatus;
    topics: string[];
    since: Date;
  }[];
  suppression: SuppressionReason | undefined;
  deliveries: {
    issueId: number;
    title: string;
    status: string;
    sentAt: Date | null;
    lastError: string | null;
  }[];
  events: { type: string; source: string; detail: string | null; at: Date }[];
}

export class SubscribersRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Subscribers whose address is `query` or starts with it, in address order. LIKE with the
   * wildcards of the query escaped, over the `text_pattern_ops` index (migration 231): a seek, not a
   * scan, on a million subscribers.
   */
  async search(query: string, limit: number): Promise<SubscriberMatch[]> {
    const pattern = `${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await this.db
      .selectFrom('subscribers')
      .select(['id', 'email', 'name', 'status', 'created_at'])
      .where(sql<boolean>`email like ${pattern}`)
      .orderBy(sql`email collate "C"`)
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      email: r.email,
      name: r.name,
      status: r.status,
      createdAt: r.created_at,
    }));
  }

  /** One subscriber with their lists, suppression, and the latest deliveries and bounce events. */
  async detail(id: number, recent: number): Promise<SubscriberDetail | undefined> {
    const row = await this.db
      .selectFrom('subscribers')
      .select(['id', 'email', 'name', 'status', 'created_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const [subscriptions, suppression, deliveries, events] = await Promise.all([
      this.db
        .selectFrom('subscriptions as sn')
        .innerJoin('lists as l', 'l.id', 'sn.list_id')
        .select(['l.slug', 'l.name', 'sn.status', 'sn.topics', 'sn.updated_at'])
        .where('sn.subscriber_id', '=', id)
        .orderBy('l.slug')
        .execute(),
      this.suppressionOf(row.email),
      // One probe of the unique key (issue_id, subscriber_id) per issue: deliveries have no index by
      // subscriber alone (enqueue would maintain it for a million rows per issue; migration 380).
      this.db
        .selectFrom('issues as i')
        .innerJoinLateral(
          (eb) =>
            eb
              .selectFrom('deliveries as dd')
              .select(['dd.id', 'dd.issue_id', 'dd.status', 'dd.sent_at', 'dd.last_error'])
              .whereRef('dd.issue_id', '=', 'i.id')
              .where('dd.subscriber_id', '=', id)
              // At most one by the unique key; the limit keeps it a per-issue probe (never flattened
              // into a join that could scan every delivery).
              .limit(1)
              .as('d'),
          (join) => join.onTrue(),
        )
        .select(['d.issue_id', 'i.title', 'd.status', 'd.sent_at', 'd.last_error'])
        .orderBy('d.id', 'desc')
        .limit(recent)
        .execute(),
      this.db
        .selectFrom('events')
        .select(['type', 'source', 'detail', 'occurred_at'])
        .where('subscriber_id', '=', id)
        .orderBy('id', 'desc')
        .limit(recent)
        .execute(),
    ]);
    return {
      id: row.id,
      email: row.email,
      name: row.name,
      status: row.status,
      createdAt: row.created_at,
      subscriptions: subscriptions.map((s) => ({
        listSlug: s.slug,
        listName: s.name,
        status: s.status,
        topics: s.topics,
        since: s.updated_at,
      })),
      suppression,
      deliveries: deliveries.map((d) => ({
        issueId: d.issue_id,
        title: d.title,
        status: d.status,
        sentAt: d.sent_at,
        lastError: d.last_error,
      })),
      events: events.map((e) => ({ type: e.type, source: e.source, detail: e.detail, at: e.occurred_at })),
    };
  }

  async suppressionOf(email: string): Promise<SuppressionReason | undefined> {
    const row = await this.db
      .selectFrom('suppressions')
      .select('reason')
      .where('email', '=', email)
      .executeTakeFirst();
    return row?.reason;
  }

  /**
   * Why an address may not be mailed (a suppression reason, or `blocklisted`), from the one rule of
   * who may receive mail (src/db/functions/); undefined when it may. A suppression is named first.
   */
  async unmailableReason(email: string): Promise<SuppressionReason | 'blocklisted' | undefined> {
    const result = await sql<{ reason: SuppressionReason | 'blocklisted' }>`
      select u.reason from digestmail_unmailable_addresses() u
       where u.email = ${email} order by u.reason = 'blocklisted' limit 1
    `.execute(this.db);
    return result.rows[0]?.reason;
  }

  async findByEmail(email: string): Promise<{ id: number; status: SubscriberStatus } | undefined> {
    return this.db
      .selectFrom('subscribers')
      .select(['id', 'status'])
      .where('email', '=', email)
      .executeTakeFirst();
  }

  /**
   * Creates the subscriber if new (keeping an existing name unless one is given) and sets their
   * subscription to the list to `status`.
   */
  async addToList(input: {
    email: string;
    name: string | null;
    listId: number;
    status: SubscriptionStatus;
    source: string;
  }): Promise<SubscriberWithSubscription> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('subscribers')
        .select(['id'])
        .where('email', '=', input.email)
        .executeTakeFirst();
      const subscriber = await trx
        .insertInto('subscribers')
        .values({ email: input.email, name: input.name })
        .onConflict((oc) =>
          oc.column('email').doUpdateSet((eb) => ({
            name: eb.fn.coalesce(eb.ref('excluded.name'), eb.ref('subscribers.name')),
            updated_at: sql`now()`,
          })),
        )
        .returning(['id', 'email', 'name', 'status'])
        .executeTakeFirstOrThrow();
      const confirmedAt = input.status === 'confirmed' ? sql<Date>`now()` : null;
      const subscription = await trx
        .insertInto('subscriptions')
        .values({
          subscriber_id: subscriber.id,
          list_id: input.listId,
          status: input.status,
          source: input.source,
          confirmed_at: confirmedAt,
        })
        .onConflict((oc) =>
          oc.columns(['subscriber_id', 'list_id']).doUpdateSet({
            status: input.status,
            confirmed_at: confirmedAt,
            unsubscribed_at: null,
            updated_at: sql`now()`,
          }),
        )
        .returning('status')
        .executeTakeFirstOrThrow();
      return {
        id: subscriber.id,
        email: subscriber.email,
        name: subscriber.name,
        subscriberStatus: subscriber.status,
        subscriptionStatus: subscription.status,
        created: !existing,
      };
    });
  }

  /**
   * Imports one batch in a single statement. Rules, in order: a suppressed address is skipped; a
   * blocklisted subscriber is skipped; an existing subscription is never re-opened after its reader
   * left (unsubscribed stays unsubscribed) and only moves forward from pending to confirmed; a name
   * in the file replaces the stored one. Rows repeated inside the batch count once (the last wins).
   * Running the same batch twice changes nothing the second time.
   */
  async importBatch(
    rows: ImportRow[],
    listId: number,
    status: 'pending' | 'confirmed',
  ): Promise<ImportCounts> {
    if (rows.length === 0) return { imported: 0, updated: 0, skipped: 0 };
    const emails = rows.map((r) => r.email);
    const names = rows.map((r) => r.name);
    const ordinals = rows.map((_, i) => i);
    const result = await sql<{ imported: number; updated: number }>`
      with input as (
        select distinct on (email) email, name
        from unnest(${emails}::text[], ${names}::text[], ${ordinals}::int[]) as t(email, name, ord)
        order by email, ord desc
      ),
      eligible as (
        select i.email, i.name from input i
        where not exists (select 1 from digestmail_unmailable_addresses() u where u.email = i.email)
      ),
      created as (
        insert into subscribers (email, name)
        select email, name from eligible
        on conflict (email) do nothing
        returning id, email
      ),
      renamed as (
        update subscribers s set name = e.name, updated_at = now()
        from eligible e
        where s.email = e.email and e.name is not null and s.name is distinct from e.name
        returning s.id
      ),
      targets as (
        select id from created
        union all
        select s.id from subscribers s join eligible e on e.email = s.email
      ),
      subscribed as (
        insert into subscriptions (subscriber_id, list_id, status, source, confirmed_at)
        select id, ${listId}, ${status}, 'import', case when ${status} = 'confirmed' then now() end
        from targets
        on conflict (subscriber_id, list_id) do update
          set status = excluded.status, confirmed_at = excluded.confirmed_at, updated_at = now()
          where subscriptions.status = 'pending' and excluded.status = 'confirmed'
        returning subscriber_id, (xmax = 0) as inserted
      )
      select
        (select count(*) from subscribed where inserted)::int as imported,
        (select count(*) from (
           select subscriber_id from subscribed where not inserted
           union
           select r.id from renamed r where not exists (select 1 from subscribed x where x.subscriber_id = r.id and x.inserted)
        ) u)::int as updated
    `.execute(this.db);
    const counts = result.rows[0] ?? { imported: 0, updated: 0 };
    return {
      imported: counts.imported,
      updated: counts.updated,
      skipped: rows.length - counts.imported - counts.updated,
    };
  }

  /** One page of a list's subscribers in id order (keyset paging keeps memory flat on any size). */
  async exportPage(
    listId: number,
    status: SubscriptionStatus | undefined,
    afterId: number,
    limit: number,
  ): Promise<ExportRow[]> {
    let query = this.db
      .selectFrom('subscriptions as sn')
      .innerJoin('subscribers as s', 's.id', 'sn.subscriber_id')
      .select(['s.id', 's.email', 's.name', 'sn.status', 'sn.created_at', 'sn.confirmed_at'])
      .where('sn.list_id', '=', listId)
      .where('s.id', '>', afterId)
      .orderBy('s.id')
      .limit(limit);
    if (status) query = query.where('sn.status', '=', status);
    const rows = await query.execute();
    return rows.map((r) => ({
      id: r.id,
      email: r.email,
      name: r.name,
      status: r.status,
      subscribedAt: r.confirmed_at ?? r.created_at,
    }));
  }

  /**
   * Erases a person: their subscriber row and subscriptions go, their address is scrubbed from past
   * deliveries and events, and the address stays on the suppression list so nothing ever mails it
   * again. Returns false when nothing was stored for the address (it is suppressed all the same).
   */
  async erase(email: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const subscriber = await trx
        .deleteFrom('subscribers')
        .where('email', '=', email)
        .returning('id')
        .executeTakeFirst();
      if (subscriber) {
        // The delivery rows stay for the issue counts, with nothing left that names the person.
        // Found through the unique key (issue_id, subscriber_id), one probe per issue: there is no
        // index on subscriber_id alone (migration 380). Every delivery belongs to an issue.
        await trx
          .updateTable('deliveries')
          .set({ subscriber_id: null, email: null })
          .where('id', 'in', (eb) =>
            eb
              .selectFrom('issues as i')
              .innerJoinLateral(
                (lb) =>
                  lb
                    .selectFrom('deliveries as dd')
                    .select('dd.id')
                    .whereRef('dd.issue_id', '=', 'i.id')
                    .where('dd.subscriber_id', '=', subscriber.id)
                    .limit(1)
                    .as('mine'),
                (join) => join.onTrue(),
              )
              .select('mine.id'),
          )
          .execute();
      }
      await trx.deleteFrom('events').where('email', '=', email).execute();
      await trx
        .insertInto('suppressions')
        .values({ email, reason: 'erased' })
        .onConflict((oc) => oc.column('email').doNothing())
        .execute();
      return subscriber !== undefined;
    });
  }
}
