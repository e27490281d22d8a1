import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, IssueStatus } from '../db/db.types.ts';

export interface Issue {
  id: number;
  listId: number;
  listSlug: string;
  listName: string;
  /** Whether the list counts clicks (read when the issue is sent, not when it was compiled). */
  listTrackClicks: boolean;
  status: IssueStatus;
  subject: string;
  title: string;
  lang: string;
  categories: string[];
  digestPath: string | null;
  digestHash: string;
  digestDate: Date | null;
  autoKey: string | null;
  sendAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  pauseReason: string | null;
  createdAt: Date;
}

export interface NewIssue {
  listId: number;
  status: 'draft' | 'scheduled';
  subject: string;
  title: string;
  lang: string;
  categories: string[];
  digestPath: string | null;
  digestSource: string;
  digestHash: string;
  digestDate: Date | null;
  template: unknown;
  sendAt: Date | null;
  autoKey?: string;
}

export interface IssueSummary extends Issue {
  total: number;
  sent: number;
  failed: number;
}

type Db = Kysely<Database> | Transaction<Database>;

/** The scheduler's jobs that one process at a time may run. */
export type SchedulerJob = 'start-due' | 'auto-send';

/** Advisory lock keys (arbitrary, fixed): one for starting due issues, one for the DIGESTS_DIR scan. */
const SCHEDULER_LOCKS: Record<SchedulerJob, number> = {
  'start-due': 0x64_6d_73_01,
  'auto-send': 0x64_6d_73_02,
};

function issueQuery(db: Db) {
  return db
    .selectFrom('issues as i')
    .innerJoin('lists as l', 'l.id', 'i.list_id')
    .select([
      'i.id',
      'i.list_id',
      'l.slug as list_slug',
      'l.name as list_name',
      'l.track_clicks as list_track_clicks',
      'i.status',
      'i.subject',
      'i.title',
      'i.lang',
      'i.categories',
      'i.digest_path',
      'i.digest_hash',
      'i.digest_date',
      'i.auto_key',
      'i.send_at',
      'i.started_at',
      'i.finished_at',
      'i.pause_reason',
      'i.created_at',
    ]);
}

type IssueRowJoined = Awaited<ReturnType<ReturnType<typeof issueQuery>['executeTakeFirstOrThrow']>>;

function toIssue(r: IssueRowJoined): Issue {
  return {
    id: r.id,
    listId: r.list_id,
    listSlug: r.list_slug,
    listName: r.list_name,
    listTrackClicks: r.list_track_clicks,
    status: r.status,
    subject: r.subject,
    title: r.title,
    lang: r.lang,
    categories: r.categories,
    digestPath: r.digest_path,
    digestHash: r.digest_hash,
    digestDate: r.digest_date,
    autoKey: r.auto_key,
    sendAt: r.send_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    pauseReason: r.pause_reason,
    createdAt: r.created_at,
  };
}

/** Bounces of one issue grouped by reason, with the latest status and remote words of each. */
export interface BounceReasonCount {
  reason: string;
  count: number;
  /** Whether these bounces suppressed their addresses (reasons about the address). */
  hard: boolean;
  status: string;
  diagnostic: string;
}

export class IssuesRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async bounceReasons(issueId: number): Promise<BounceReasonCount[]> {
    const result = await sql<{
      reason: string;
      n: string;
      hard: boolean;
      status: string | null;
      diagnostic: string | null;
    }>`
      select distinct on (e.reason) e.reason,
             count(*) over (partition by e.reason) as n,
             bool_or(e.type = 'hard_bounce') over (partition by e.reason) as hard,
             e.status, coalesce(e.diagnostic, e.detail) as diagnostic
        from events e
       where e.issue_id = ${issueId} and e.reason is not null and e.type in ('hard_bounce', 'soft_bounce')
       order by e.reason, e.occurred_at desc, e.id desc
    `.execute(this.db);
    return result.rows
      .map((r) => ({
        reason: r.reason,
        count: Number(r.n),
        hard: r.hard,
        status: r.status ?? '',
        diagnostic: r.diagnostic ?? '',
      }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  }

  /** Returns undefined when an issue with the same auto_key exists already (DIGESTS_DIR pickup). */
  async insert(input: NewIssue): Promise<number | undefined> {
    const row = await this.db
      .insertInto('issues')
      .values({
        list_id: input.listId,
        status: input.status,
        subject: input.subject,
        title: input.title,
        lang: input.lang,
        categories: input.categories,
        digest_path: input.digestPath,
        digest_source: input.digestSource,
        digest_hash: input.digestHash,
        digest_date: input.digestDate,
        template: JSON.stringify(input.template),
        send_at: input.sendAt,
        auto_key: input.autoKey ?? null,
      })
      .onConflict((oc) => oc.column('auto_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    // The issue's links by position: where its click redirects may lead, and what reports name.
    const links = (
      input.template as { links?: { position: number; url: string; title: string; domain: string }[] }
    ).links;
    if (row && links && links.length > 0) {
      await this.db
        .insertInto('issue_links')
        .values(
          links.map((l) => ({
            issue_id: row.id,
            position: l.position,
            url: l.url,
            title: l.title,
            domain: l.domain,
          })),
        )
        .execute();
    }
    return row?.id;
  }

  async find(id: number, db: Db = this.db): Promise<Issue | undefined> {
    const row = await issueQuery(db).where('i.id', '=', id).executeTakeFirst();
    return row ? toIssue(row) : undefined;
  }

  /** The issue row locked for a state change (start, pause, cancel) so two processes cannot race. */
  async findForUpdate(trx: Transaction<Database>, id: number): Promise<Issue | undefined> {
    const row = await issueQuery(trx).where('i.id', '=', id).forUpdate('i').executeTakeFirst();
    return row ? toIssue(row) : undefined;
  }

  async template(id: number): Promise<unknown> {
    const row = await this.db.selectFrom('issues').select('template').where('id', '=', id).executeTakeFirst();
    return row?.template;
  }

  /** Every issue with its totals, from the counts kept per issue and status (migration 140). */
  async all(): Promise<IssueSummary[]> {
    const rows = await issueQuery(this.db)
      .select((eb) => {
        const sum = (statuses?: string[]) => {
          let q = eb.selectFrom('delivery_counts as c').whereRef('c.issue_id', '=', 'i.id');
          if (statuses) q = q.where('c.status', 'in', statuses as 'sent'[]);
          return q.select((e) => [e.fn.sum<number>('c.n').as('n')]);
        };
        return [
          sum().as('total'),
          sum(['sent', 'delivered', 'bounced', 'complained']).as('sent'),
          sum(['failed']).as('failed'),
        ];
      })
      .orderBy('i.id')
      .execute();
    return rows.map((r) => ({
      ...toIssue(r),
      total: Number(r.total ?? 0),
      sent: Number(r.sent ?? 0),
      failed: Number(r.failed ?? 0),
    }));
  }

  async update(
    id: number,
    changes: {
      status?: IssueStatus;
      sendAt?: Date | null;
      pauseReason?: string | null;
      startedAt?: Date;
    },
    db: Db = this.db,
  ): Promise<void> {
    await db
      .updateTable('issues')
      .set({
        ...(changes.status === undefined ? {} : { status: changes.status }),
        ...(changes.sendAt === undefined ? {} : { send_at: changes.sendAt }),
        ...(changes.pauseReason === undefined ? {} : { pause_reason: changes.pauseReason }),
        ...(changes.startedAt === undefined ? {} : { started_at: changes.startedAt }),
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', id)
      .execute();
  }

  /** Scheduled issues whose time has come, oldest first. */
  async dueIds(db: Db = this.db): Promise<number[]> {
    const rows = await db
      .selectFrom('issues')
      .select('id')
      .where('status', '=', 'scheduled')
      .where('send_at', '<=', sql<Date>`now()`)
      .orderBy('send_at')
      .execute();
    return rows.map((r) => r.id);
  }

  async sendingIds(): Promise<number[]> {
    const rows = await this.db
      .selectFrom('issues')
      .select('id')
      .where('status', '=', 'sending')
      .orderBy('id')
      .execute();
    return rows.map((r) => r.id);
  }

  async statuses(ids: number[]): Promise<Map<number, IssueStatus>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db.selectFrom('issues').select(['id', 'status']).where('id', 'in', ids).execute();
    return new Map(rows.map((r) => [r.id, r.status]));
  }

  /** Pauses a sending issue with a reason; false when it was no longer sending. */
  async pauseSending(id: number, reason: string): Promise<boolean> {
    const result = await this.db
      .updateTable('issues')
      .set({ status: 'paused', pause_reason: reason, updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .where('status', '=', 'sending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Marks a sending issue with nothing left to send (no queued or sending delivery) as sent, in one
   * statement, so two workers that both see it drained finish it once. True when this call did it.
   */
  async finishIfDrained(id: number): Promise<boolean> {
    const result = await sql`
      update issues i
         set status = 'sent', finished_at = now(), updated_at = now()
       where i.id = ${id} and i.status = 'sending'
         and not exists (select 1 from deliveries d where d.issue_id = i.id and d.status in ('queued', 'sending'))
    `.execute(this.db);
    return Number(result.numAffectedRows ?? 0) > 0;
  }

  /** Why an issue would reach nobody: the counts behind an "empty list" error. */
  async audience(listId: number, db: Db = this.db): Promise<{ confirmed: number; suppressed: number }> {
    // Confirmed subscriptions, and how many of them the one rule (digestmail_list_recipients) drops.
    const row = await sql<{ confirmed: number; suppressed: number }>`
      select count(*)::int as confirmed,
             count(*) filter (where not exists (
               select 1 from digestmail_list_recipients() r
                where r.subscriber_id = sn.subscriber_id and r.list_id = sn.list_id))::int as suppressed
        from subscriptions sn
       where sn.list_id = ${listId} and sn.status = 'confirmed'
    `.execute(db);
    return row.rows[0] ?? { confirmed: 0, suppressed: 0 };
  }

  /** Whether an issue was already made from this digest file and content (DIGESTS_DIR pickup). */
  async autoKeyExists(key: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('issues')
      .select('id')
      .where('auto_key', '=', key)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Takes the transaction-scoped advisory lock of one of the scheduler's jobs, if no other process
   * holds it; false when another one does. It is let go when `trx` ends, so a process that dies
   * mid-job lets go of it at once.
   */
  async tryJobLock(trx: Transaction<Database>, job: SchedulerJob): Promise<boolean> {
    const lock = await sql<{ locked: boolean }>`
      select pg_try_advisory_xact_lock(${SCHEDULER_LOCKS[job]}) as locked
    `.execute(trx);
    return lock.rows[0]?.locked === true;
  }
}
