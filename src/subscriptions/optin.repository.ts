import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/db.types.ts';
import type { RateLimitHit } from './rate-limit.repository.ts';

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
  /**
   * Write the confirmation mail already leased to the caller for this many seconds (status
   * `sending`, first attempt), because its process sends it at once (SignupService's hand-off);
   * undefined queues it for the outbox sender's claim.
   */
  leaseSeconds?: number;
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
  /** The subscriber signed up (undefined when nothing was written). */
  subscriberId: number | undefined;
  /** The outbox row of the confirmation mail queued, when one was. */
  confirmMailId: number | undefined;
}

/** A row of digestmail_signup_batch: one signup's outcome, by its place (from 1) in the batch. */
interface SignupBatchRow {
  o_index: number;
  o_limited: boolean;
  o_accepted: boolean;
  o_needs_confirm: number[] | null;
  o_confirm_hits: number | null;
  o_joined: number[] | null;
  o_subscriber: number | null;
  o_confirm_mail: number | null;
}

function toSignupOutcome(row: SignupBatchRow): SignupOutcome {
  const needsConfirm = row.o_needs_confirm ?? [];
  const confirmSent = row.o_confirm_hits === 1;
  return {
    limited: row.o_limited,
    accepted: row.o_accepted,
    confirmQueued: confirmSent ? needsConfirm : [],
    confirmThrottled: needsConfirm.length > 0 && !confirmSent,
    joined: row.o_joined ?? [],
    subscriberId: row.o_subscriber ?? undefined,
    confirmMailId: row.o_confirm_mail ?? undefined,
  };
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
  /** Whether this call gave the subscriber the name their confirming signup carried. */
  renamed: boolean;
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
   * - the name given is kept with the confirmation mail (in its outbox row, never in its text) and
   *   written to the subscriber only when that mail's link confirms (see confirm): a stranger can
   *   neither name a new subscriber nor rename an existing one, and the confirming signup's name wins;
   *   a later signup with another name takes the name off earlier links of the address;
   * - a list not joined before: pending (double opt-in) or confirmed with a welcome mail (single);
   * - pending, or unsubscribed on any list (a reader who left only comes back by their own click):
   *   a confirmation mail for those lists, at most one per address per window;
   * - already confirmed: nothing.
   * The rate limits are counted in the same call; when one is exceeded nothing else is written.
   */
  async signup(input: SignupInput): Promise<SignupOutcome> {
    return (await this.signupMany([input]))[0]!;
  }

  /**
   * Signups in one call of `digestmail_signup_batch` (src/db/functions/51_signup_batch.sql), which
   * applies the rules above (src/db/functions/50_signup.sql) with the outcome of applying them one
   * signup after the other, in order, but in a few statements for the whole batch; returns each
   * one's outcome, in order. The only way signups are written (SignupService gathers them; `signup`
   * is a batch of one).
   */
  async signupMany(inputs: SignupInput[]): Promise<SignupOutcome[]> {
    const signups = inputs.map((input) => ({
      email: input.email,
      name: input.name,
      listIds: input.listIds,
      ip: input.ip,
      lang: input.lang,
      limitKeys: input.limits.map((l) => l.key),
      limitWindows: input.limits.map((l) => l.windowSeconds),
      limitMaxes: input.limits.map((l) => l.max),
      confirmKey: input.confirmKey,
      confirmWindow: input.confirmWindowSeconds,
      leaseSeconds: input.leaseSeconds ?? null,
    }));
    const result = await sql<SignupBatchRow>`
      select * from digestmail_signup_batch(${JSON.stringify(signups)}::jsonb)
    `.execute(this.db);
    const outcomes: SignupOutcome[] = [];
    for (const row of result.rows) outcomes[row.o_index - 1] = toSignupOutcome(row);
    return outcomes;
  }

  /**
   * Confirms the subscriber's subscriptions to the given lists and queues one welcome mail for those
   * that changed. Confirming twice changes nothing the second time. A suppressed address (it bounced
   * or complained since signing up) is not confirmed.
   *
   * `confirmationId` is the confirmation mail the link came in: when this call confirms something,
   * the name that mail's signup gave (kept in its outbox row) becomes the subscriber's name, in the
   * same statement, so the welcome mail already greets them by it. A link confirming nothing new (an
   * old mail pressed again) renames nobody; a signup without a name keeps the name there is.
   */
  async confirm(
    subscriberId: number,
    listIds: number[],
    lang: string,
    confirmationId?: number,
  ): Promise<ConfirmOutcome> {
    const result = await sql<{ found: boolean; confirmed: number[] | null; renamed: number }>`
      with target as (
        select s.id, s.email from subscribers s
        where s.id = ${subscriberId}
          and not exists (select 1 from digestmail_unmailable_addresses() u where u.email = s.email)
      ),
      confirmed as (
        update subscriptions
        set status = 'confirmed', confirmed_at = now(), unsubscribed_at = null, updated_at = now()
        where subscriber_id = (select id from target) and list_id = any(${listIds}::int[])
          and status <> 'confirmed'
        returning list_id
      ),
      named as (
        update subscribers s set name = o.payload ->> 'name', updated_at = now()
        from outbox o
        where o.id = ${confirmationId ?? null}::bigint and o.kind = 'confirm' and o.subscriber_id = s.id
          and s.id = (select id from target) and o.payload ? 'name'
          and exists (select 1 from confirmed)
        returning s.id
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
        (select count(*) from named) as renamed,
        (select count(*) from mail) as mails
    `.execute(this.db);
    const row = result.rows[0]!;
    return { found: row.found, confirmed: row.confirmed ?? [], renamed: Number(row.renamed) > 0 };
  }
}
