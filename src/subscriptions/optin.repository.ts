import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { countHits, type RateLimitHit } from './rate-limit.repository.ts';

export interface SignupInput {
  /** Canonical address (checkEmail). */
  email: string;
  name: string | null;
  listIds: number[];
  ip: string | null;
  lang: string;
  /** Rate-limit key for "one confirmation mail per address per window". */
  confirmKey: string;
  confirmWindowSeconds: number;
  /** Limits counted in the same statement; beyond any of them nothing else is written. */
  limits: (RateLimitHit & { max: number })[];
}

export interface SignupOutcome {
  /** A rate limit was exceeded: the hit was counted and nothing else was written. */
  limited: boolean;
  /** false when the address is suppressed or blocklisted: nothing was written. */
  accepted: boolean;
  /** Lists whose confirmation mail was queued (empty when throttled or nothing to confirm). */
  confirmQueued: number[];
  /** Lists that needed confirmation but whose mail was held back by the per-address window. */
  confirmThrottled: boolean;
  /** Single-opt-in lists joined at once (a welcome mail was queued). */
  joined: number[];
}

export interface PublicList {
  id: number;
  slug: string;
  name: string;
  description: string;
  language: string;
}

export interface ConfirmOutcome {
  /** false when the subscriber no longer exists, is blocklisted or suppressed. */
  found: boolean;
  /** Lists confirmed by this call (empty when they already were: confirming is idempotent). */
  confirmed: number[];
}

/**
 * Double opt-in in the database. Each operation is one statement (so one round trip and atomic on its
 * own): the subscription change and the mail it causes are written together to the outbox, and a
 * sender delivers the mail later. Nothing here ever waits on SMTP.
 */
export class OptinRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The lists offered on the signup form. */
  publicLists(): Promise<PublicList[]> {
    return this.db
      .selectFrom('lists')
      .select(['id', 'slug', 'name', 'description', 'language'])
      .where('is_public', '=', true)
      .orderBy('name')
      .orderBy('id')
      .execute();
  }

  listsById(ids: number[]): Promise<PublicList[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('lists')
      .select(['id', 'slug', 'name', 'description', 'language'])
      .where('id', 'in', ids)
      .orderBy('name')
      .orderBy('id')
      .execute();
  }

  /**
   * Rules, whatever the state of the address:
   * - suppressed address or blocklisted subscriber: nothing is written;
   * - a new subscriber gets the name given; an existing one keeps theirs (a stranger cannot rename);
   * - a list not joined before: pending (double opt-in) or confirmed with a welcome mail (single);
   * - pending, or unsubscribed on any list (a reader who left only comes back by their own click):
   *   a confirmation mail for those lists, at most one per address per window;
   * - already confirmed: nothing.
   * The rate limits are counted in the same statement (one round trip per signup); when one is
   * exceeded nothing else is written.
   */
  async signup(input: SignupInput): Promise<SignupOutcome> {
    const maxes = input.limits.map((l) => l.max);
    const limitKeys = input.limits.map((l) => l.key);
    const result = await sql<{
      limited: boolean;
      accepted: boolean;
      needs_confirm: number[] | null;
      confirm_hits: number | null;
      joined: number[] | null;
    }>`
      with hits as (${countHits(input.limits)}),
      allowed as (
        select coalesce(bool_and(h.hits <= l.max), true) as ok
        from hits h join unnest(${limitKeys}::text[], ${maxes}::int[]) as l(key, max) using (key)
      ),
      sub as (
        insert into subscribers as s (email, name)
        select ${input.email}, ${input.name}
        where (select ok from allowed)
          and not exists (select 1 from suppressions where email = ${input.email})
        on conflict (email) do update set updated_at = s.updated_at
        returning id, email, status
      ),
      active as (select id, email from sub where status = 'active'),
      lists_in as (select id, opt_in from lists where id = any(${input.listIds}::int[])),
      prior as (
        select list_id, status from subscriptions
        where subscriber_id = (select id from active) and list_id = any(${input.listIds}::int[])
      ),
      added as (
        insert into subscriptions (subscriber_id, list_id, status, source, ip, confirmed_at)
        select a.id, l.id,
          case when l.opt_in = 'single' then 'confirmed' else 'pending' end,
          'form', ${input.ip},
          case when l.opt_in = 'single' then now() end
        from active a cross join lists_in l
        on conflict (subscriber_id, list_id) do nothing
        returning list_id, status
      ),
      needs_confirm as (
        select list_id from added where status = 'pending'
        union
        select list_id from prior where status in ('pending', 'unsubscribed')
      ),
      joined as (select list_id from added where status = 'confirmed'),
      throttle as (${countHits(
        [{ key: input.confirmKey, windowSeconds: input.confirmWindowSeconds }],
        sql<boolean>`exists (select 1 from needs_confirm)`,
      )}),
      mail as (
        insert into outbox (kind, to_email, subscriber_id, payload)
        select 'confirm', a.email, a.id,
          jsonb_build_object('lists', (select jsonb_agg(list_id order by list_id) from needs_confirm), 'lang', ${input.lang}::text)
        from active a where (select hits from throttle) = 1
        union all
        select 'welcome', a.email, a.id,
          jsonb_build_object('lists', (select jsonb_agg(list_id order by list_id) from joined), 'lang', ${input.lang}::text)
        from active a where exists (select 1 from joined)
        returning id
      )
      select
        not (select ok from allowed) as limited,
        exists (select 1 from active) as accepted,
        (select array_agg(list_id order by list_id) from needs_confirm) as needs_confirm,
        (select hits from throttle) as confirm_hits,
        (select array_agg(list_id order by list_id) from joined) as joined,
        (select count(*) from mail) as mails
    `.execute(this.db);
    const row = result.rows[0]!;
    const needsConfirm = row.needs_confirm ?? [];
    const confirmSent = row.confirm_hits === 1;
    return {
      limited: row.limited,
      accepted: row.accepted,
      confirmQueued: confirmSent ? needsConfirm : [],
      confirmThrottled: needsConfirm.length > 0 && !confirmSent,
      joined: row.joined ?? [],
    };
  }

  /**
   * Confirms the subscriber's subscriptions to the given lists and queues one welcome mail for those
   * that changed. Confirming twice changes nothing the second time. A suppressed address (it bounced
   * or complained since signing up) is not confirmed.
   */
  async confirm(subscriberId: number, listIds: number[], lang: string): Promise<ConfirmOutcome> {
    const result = await sql<{ found: boolean; confirmed: number[] | null }>`
      with target as (
        select s.id, s.email from subscribers s
        where s.id = ${subscriberId} and s.status = 'active'
          and not exists (select 1 from suppressions x where x.email = s.email)
      ),
      confirmed as (
        update subscriptions
        set status = 'confirmed', confirmed_at = now(), unsubscribed_at = null, updated_at = now()
        where subscriber_id = (select id from target) and list_id = any(${listIds}::int[])
          and status <> 'confirmed'
        returning list_id
      ),
      mail as (
        insert into outbox (kind, to_email, subscriber_id, payload)
        select 'welcome', t.email, t.id,
          jsonb_build_object('lists', (select jsonb_agg(list_id order by list_id) from confirmed), 'lang', ${lang}::text)
        from target t where exists (select 1 from confirmed)
        returning id
      )
      select exists (select 1 from target) as found,
        (select array_agg(list_id order by list_id) from confirmed) as confirmed,
        (select count(*) from mail) as mails
    `.execute(this.db);
    const row = result.rows[0]!;
    return { found: row.found, confirmed: row.confirmed ?? [] };
  }
}
