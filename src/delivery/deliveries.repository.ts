import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, EventSource } from '../db/db.types.ts';

/** A delivery a worker holds a lease on, with what it needs to build the message. */
export interface ClaimedDelivery {
  id: number;
  issueId: number;
  subscriberId: number;
  email: string;
  name: string | null;
  /** False when the reader turned click counting off. */
  trackClicks: boolean;
  /** Attempts so far, this one included. */
  attempts: number;
  /** How many times this delivery was taken back from a worker whose lease ran out. */
  crashResends: number;
}

export interface SentRecord {
  id: number;
  messageId: string;
  providerMessageId: string;
  sentAt: Date;
}

export interface RetryRecord {
  id: number;
  nextAttemptAt: Date;
  error: string;
  /** The attempt never reached the provider (issue paused under us): it does not count. */
  refund?: boolean;
}

export interface FailedRecord {
  id: number;
  error: string;
  /** The mailbox was refused for a reason about the address: a hard bounce, and the address suppressed. */
  hardBounce: boolean;
  /** The recipient's server refused it at RCPT TO: recorded as a bounce event with this reason. */
  bounce?: { reason: string; status: string; diagnostic: string } | undefined;
}

export interface IssueCounts {
  total: number;
  queued: number;
  sending: number;
  sent: number;
  delivered: number;
  failed: number;
  bounced: number;
  complained: number;
  suppressed: number;
  unsubscribed: number;
  resent_after_crash: number;
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Every statement the sending path runs. Claims, results and lease renewals are each one statement
 * for a whole batch, so the database sees a handful of round trips per hundred messages.
 */
export class DeliveriesRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Freezes the recipients of an issue in one INSERT … SELECT: the list's recipients (the one rule,
   * digestmail_list_recipients in src/db/functions/) and, for readers who chose topics, only when the
   * issue's categories meet them. Runs inside the transaction that moves the issue to `sending`, so
   * it happens once.
   *
   * The plan must not depend on luck: a million rows joined by nested loops take minutes instead of
   * seconds. So the list is a constant (its share of subscriptions comes from the column statistics),
   * "no topics chosen" is `topics = '{}'` (estimated from the statistics; `cardinality(topics) = 0`
   * was guessed at 0.5 % and turned a million recipients into 831 estimated rows and a million index
   * probes), and tables that have no statistics yet, or whose statistics describe a much smaller
   * table (a big import that autovacuum has not caught up with), are analyzed first (ensureStatistics).
   */
  async enqueue(trx: Transaction<Database>, issueId: number): Promise<number> {
    const issue = await trx
      .selectFrom('issues')
      .select('list_id')
      .where('id', '=', issueId)
      .executeTakeFirst();
    if (!issue) return 0;
    await this.ensureStatistics(trx);
    // Rows go in in subscriber order, so the unique key (issue_id, subscriber_id) grows at its right
    // edge like the primary key; in hash order (a hash join that spilled to disk in 4 MB of
    // work_mem) every insert landed on a random page and the enqueue took 4× the plain copy. The
    // memory is this transaction's only (set_config local), enough to hash a million readers.
    await sql`select set_config('work_mem', '128MB', true)`.execute(trx);
    const result = await sql`
      insert into deliveries (issue_id, subscriber_id, email)
      select i.id, r.subscriber_id, r.email
        from issues i, digestmail_list_recipients() r
       where i.id = ${issueId}
         and r.list_id = ${sql.lit(issue.list_id)}
         and (r.topics = '{}' or r.topics && i.categories)
       order by r.subscriber_id
    `.execute(trx);
    const enqueued = Number(result.numAffectedRows ?? 0);
    // Deliveries have no insert trigger (it would copy the million rows once more): the count of
    // new `queued` rows is known here, and lands in the same transaction (migration 140).
    if (enqueued > 0) {
      await trx
        .insertInto('delivery_counts')
        .values({ issue_id: issueId, status: 'queued', n: enqueued })
        .execute();
    }
    return enqueued;
  }

  /**
   * ANALYZEs the tables enqueue reads when they have no column statistics (a fresh database, a
   * restored dump) or when more rows changed since the last ANALYZE than there were then. Cheap:
   * ANALYZE reads a sample of 30,000 rows whatever the size, and normally autovacuum has done it.
   */
  private async ensureStatistics(trx: Transaction<Database>): Promise<void> {
    const stale = await sql<{ name: string }>`
      select c.relname::text as name
        from pg_class c
        left join pg_stat_user_tables t on t.relid = c.oid
       where c.oid in ('subscribers'::regclass, 'subscriptions'::regclass, 'suppressions'::regclass)
         and (not exists (select 1 from pg_stats p
                           where p.schemaname = current_schema() and p.tablename = c.relname)
              or coalesce(t.n_mod_since_analyze, 0) > greatest(1000, c.reltuples / 2))
    `.execute(trx);
    for (const { name } of stale.rows) {
      if (name === 'subscribers') await sql`analyze subscribers`.execute(trx);
      else if (name === 'subscriptions') await sql`analyze subscriptions`.execute(trx);
      else if (name === 'suppressions') await sql`analyze suppressions`.execute(trx);
    }
  }

  /**
   * Takes up to `limit` due deliveries of one sending issue. Rows locked by another worker's claim
   * are skipped (SKIP LOCKED), so workers never wait on each other. A claim sets the lease by moving
   * `next_attempt_at` to the lease's end: a delivery whose worker died becomes due again by itself,
   * and is then counted in `crash_resends`, since it may already have gone out once.
   *
   * Who may receive mail is checked again here (the one rule, digestmail_unmailable_addresses, and
   * the subscription), not only at enqueue: a complaint or an unsubscribe that lands mid-send stops
   * the mail to that person.
   */
  async claim(
    issueId: number,
    workerId: string,
    limit: number,
    leaseSeconds: number,
  ): Promise<ClaimedDelivery[]> {
    const result = await sql<{
      id: number;
      issue_id: number;
      subscriber_id: number;
      email: string;
      name: string | null;
      track_clicks: boolean | null;
      status: string;
      attempts: number;
      crash_resends: number;
    }>`
      with picked as (
        select d.id
          from deliveries d
         where d.issue_id = ${issueId}
           and d.status in ('queued', 'sending')
           and d.next_attempt_at <= now()
         order by d.next_attempt_at
         limit ${limit}
         for update of d skip locked
      ),
      verdict as (
        select p.id, s.name, s.track_clicks,
               case
                 when s.id is null or unmailable.reason is not null then 'suppressed'
                 when sn.status is distinct from 'confirmed' then 'unsubscribed'
                 else 'sending'
               end as next_status
          from picked p
          join deliveries d on d.id = p.id
          join issues i on i.id = d.issue_id
          left join subscribers s on s.id = d.subscriber_id
          left join subscriptions sn on sn.subscriber_id = d.subscriber_id and sn.list_id = i.list_id
          -- Lateral with a limit: probed per claimed row through the indexes (an EXISTS here may be
          -- planned as a hashed scan of every unmailable address, per claim).
          left join lateral (
            select u.reason from digestmail_unmailable_addresses() u where u.email = d.email limit 1
          ) unmailable on true
      )
      update deliveries d
         set status = v.next_status,
             attempts = d.attempts + (case when v.next_status = 'sending' then 1 else 0 end),
             crash_resends = d.crash_resends
               + (case when d.status = 'sending' and v.next_status = 'sending' then 1 else 0 end),
             lease_until = case when v.next_status = 'sending' then now() + make_interval(secs => ${leaseSeconds}) end,
             next_attempt_at = case when v.next_status = 'sending'
                                    then now() + make_interval(secs => ${leaseSeconds})
                                    else d.next_attempt_at end,
             leased_by = case when v.next_status = 'sending' then ${workerId} else d.leased_by end,
             updated_at = now()
        from verdict v
       where d.id = v.id
      returning d.id, d.issue_id, d.subscriber_id, d.email, v.name, v.track_clicks, d.status, d.attempts, d.crash_resends
    `.execute(this.db);
    return result.rows
      .filter((r) => r.status === 'sending')
      .map((r) => ({
        id: r.id,
        issueId: r.issue_id,
        subscriberId: r.subscriber_id,
        email: r.email,
        name: r.name,
        trackClicks: r.track_clicks !== false,
        attempts: r.attempts,
        crashResends: r.crash_resends,
      }));
  }

  /** Pushes the leases of deliveries this worker still holds further out, while it works on them. */
  async renewLeases(workerId: string, ids: number[], leaseSeconds: number): Promise<void> {
    if (ids.length === 0) return;
    await sql`
      update deliveries
         set lease_until = now() + make_interval(secs => ${leaseSeconds}),
             next_attempt_at = now() + make_interval(secs => ${leaseSeconds})
       where id in (select value::bigint from jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))
         and status = 'sending' and leased_by = ${workerId}
    `.execute(this.db);
  }

  /**
   * Records a batch of results in one transaction. Each update only touches a delivery this worker
   * still holds: one that was taken over after a lost lease is recorded by its new owner.
   */
  async record(
    workerId: string,
    results: { sent: SentRecord[]; retry: RetryRecord[]; failed: FailedRecord[] },
    bounceSource: EventSource,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (results.sent.length > 0) await this.recordSent(trx, workerId, results.sent);
      if (results.retry.length > 0) await this.recordRetry(trx, workerId, results.retry);
      if (results.failed.length > 0) await this.recordFailed(trx, workerId, results.failed, bounceSource);
    });
  }

  private async recordSent(trx: Db, workerId: string, rows: SentRecord[]): Promise<void> {
    const json = JSON.stringify(
      rows.map((r) => ({ id: r.id, m: r.messageId, p: r.providerMessageId, t: r.sentAt.toISOString() })),
    );
    await sql`
      update deliveries d
         set status = 'sent', message_id = u.m, provider_message_id = u.p, sent_at = u.t,
             lease_until = null, last_error = null, updated_at = now()
        from jsonb_to_recordset(${json}::jsonb) as u(id bigint, m text, p text, t timestamptz)
       where d.id = u.id and d.status = 'sending' and d.leased_by = ${workerId}
    `.execute(trx);
  }

  private async recordRetry(trx: Db, workerId: string, rows: RetryRecord[]): Promise<void> {
    const json = JSON.stringify(
      rows.map((r) => ({ id: r.id, n: r.nextAttemptAt.toISOString(), e: r.error, r: r.refund === true })),
    );
    await sql`
      update deliveries d
         set status = 'queued', next_attempt_at = u.n, last_error = coalesce(u.e, d.last_error),
             attempts = d.attempts - (case when u.r then 1 else 0 end),
             lease_until = null, leased_by = null, updated_at = now()
        from jsonb_to_recordset(${json}::jsonb) as u(id bigint, n timestamptz, e text, r boolean)
       where d.id = u.id and d.status = 'sending' and d.leased_by = ${workerId}
    `.execute(trx);
  }

  /** Failed for good; a hard bounce also becomes an event and a suppression, in the same transaction. */
  private async recordFailed(
    trx: Db,
    workerId: string,
    rows: FailedRecord[],
    source: EventSource,
  ): Promise<void> {
    const json = JSON.stringify(
      rows.map((r) => ({
        id: r.id,
        e: r.error,
        h: r.hardBounce,
        r: r.bounce?.reason ?? null,
        s: r.bounce?.status ?? null,
        g: r.bounce?.diagnostic ?? null,
      })),
    );
    await sql`
      with failed as (
        update deliveries d
           set status = 'failed', last_error = u.e, lease_until = null, updated_at = now()
          from jsonb_to_recordset(${json}::jsonb) as u(id bigint, e text, h boolean, r text, s text, g text)
         where d.id = u.id and d.status = 'sending' and d.leased_by = ${workerId}
        returning d.id, d.issue_id, d.subscriber_id, d.email, u.e as error, u.h as hard,
                  u.r as reason, u.s as status, u.g as diagnostic
      ),
      bounced as (
        insert into events (type, source, email, subscriber_id, delivery_id, issue_id, detail, reason, status, diagnostic)
        select case when f.hard then 'hard_bounce' else 'soft_bounce' end, ${source}, f.email, f.subscriber_id,
               f.id, f.issue_id, f.error, f.reason, f.status, left(f.diagnostic, 1000)
          from failed f where f.hard or f.reason is not null
        returning email
      )
      insert into suppressions (email, reason, note)
      select distinct on (f.email) f.email, 'hard_bounce', f.error
        from failed f where f.hard and f.email is not null
      on conflict (email) do nothing
    `.execute(trx);
  }

  /** Deliveries that reached a final verdict, and how many of those failed for good. */
  async failureStats(issueId: number): Promise<{ attempted: number; failed: number }> {
    // From the counts kept per issue and status (migration 140), not a scan of the issue's rows.
    const row = await this.db
      .selectFrom('delivery_counts')
      .where('issue_id', '=', issueId)
      .where('status', 'in', ['sent', 'delivered', 'failed', 'bounced', 'complained'])
      .select((eb) => [
        eb.fn.coalesce(eb.fn.sum<number>('n'), sql<number>`0`).as('attempted'),
        eb.fn
          .coalesce(eb.fn.sum<number>('n').filterWhere('status', '=', 'failed'), sql<number>`0`)
          .as('failed'),
      ])
      .executeTakeFirstOrThrow();
    return { attempted: Number(row.attempted), failed: Number(row.failed) };
  }

  async counts(issueId: number): Promise<IssueCounts> {
    const rows = await this.db
      .selectFrom('delivery_counts')
      .where('issue_id', '=', issueId)
      .groupBy('status')
      .select((eb) => ['status', eb.fn.sum<number>('n').as('n'), eb.fn.sum<number>('resent').as('resent')])
      .execute();
    const counts: IssueCounts = {
      total: 0,
      queued: 0,
      sending: 0,
      sent: 0,
      delivered: 0,
      failed: 0,
      bounced: 0,
      complained: 0,
      suppressed: 0,
      unsubscribed: 0,
      resent_after_crash: 0,
    };
    for (const row of rows) {
      counts[row.status] = Number(row.n);
      counts.total += Number(row.n);
      counts.resent_after_crash += Number(row.resent);
    }
    return counts;
  }

  /** Folds the count deltas into one row per key; cheap, and skipped when another process is at it. */
  async compactCounts(): Promise<void> {
    await sql`select digestmail_compact_counts()`.execute(this.db);
  }
}
