import { type Kysely, sql } from 'kysely';
import type { ClickKind, Database } from '../db/db.types.ts';

export interface LinkClicks {
  position: number;
  url: string;
  title: string;
  domain: string;
  human: number;
  scanner: number;
}

/** All SQL of click counts: the links of an issue, the first click per (delivery, link), reports, folding. */
export class ClicksRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async link(issueId: number, position: number): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('issue_links')
      .select('url')
      .where('issue_id', '=', issueId)
      .where('position', '=', position)
      .executeTakeFirst();
    return row?.url;
  }

  /**
   * Records the first click of a delivery on a link, in one statement: nothing for a delivery that
   * is not of this issue (a token for a deleted delivery counts nothing), nothing more for a second
   * click. Returns whether a row was written and whether it came within the burst window.
   */
  async record(
    deliveryId: number,
    issueId: number,
    position: number,
    kind: ClickKind,
    burstSeconds: number,
  ): Promise<{ recorded: boolean; early: boolean }> {
    const result = await sql<{ early: boolean }>`
      insert into clicks (delivery_id, issue_id, position, kind)
      select d.id, d.issue_id, ${position}, ${kind}
        from deliveries d
       where d.id = ${deliveryId} and d.issue_id = ${issueId}
      on conflict (delivery_id, position) do nothing
      returning (select coalesce(d2.sent_at, now()) > now() - make_interval(secs => ${burstSeconds})
                   from deliveries d2 where d2.id = ${deliveryId}) as early
    `.execute(this.db);
    const row = result.rows[0];
    return { recorded: row !== undefined, early: row?.early === true };
  }

  /**
   * The burst rule: when every link of the issue (at least two) has been opened for this delivery
   * within the window after it was sent, all of those clicks were a scanner's.
   */
  async markBurst(deliveryId: number, issueId: number, burstSeconds: number): Promise<void> {
    await sql`
      with d as (select coalesce(sent_at, now()) as sent_at from deliveries where id = ${deliveryId}),
           links as (select count(*) as n from issue_links where issue_id = ${issueId}),
           early as (
             select count(*) as n from clicks c, d
              where c.delivery_id = ${deliveryId}
                and c.clicked_at <= d.sent_at + make_interval(secs => ${burstSeconds})
           )
      update clicks c set kind = 'scanner'
        from d, links, early
       where c.delivery_id = ${deliveryId}
         and c.kind = 'human'
         and links.n >= 2 and early.n >= links.n
         and c.clicked_at <= d.sent_at + make_interval(secs => ${burstSeconds})
    `.execute(this.db);
  }

  /** Per link: unique clicks as recorded now plus what retention has folded into totals. */
  async perLink(issueId: number): Promise<LinkClicks[]> {
    const result = await sql<LinkClicks>`
      select l.position, l.url, l.title, l.domain,
             (coalesce(c.human, 0) + coalesce(t.human, 0))::int as human,
             (coalesce(c.scanner, 0) + coalesce(t.scanner, 0))::int as scanner
        from issue_links l
        left join (
          select position, count(*) filter (where kind = 'human') as human,
                 count(*) filter (where kind = 'scanner') as scanner
            from clicks where issue_id = ${issueId} group by position
        ) c on c.position = l.position
        left join click_totals t on t.issue_id = l.issue_id and t.position = l.position
       where l.issue_id = ${issueId}
       order by l.position
    `.execute(this.db);
    return result.rows;
  }

  /** Readers with at least one human click, and deliveries with scanner clicks (live plus folded). */
  async readers(issueId: number): Promise<{ human: number; scanner: number }> {
    const result = await sql<{ human: number; scanner: number }>`
      select (select count(distinct delivery_id) from clicks where issue_id = ${issueId} and kind = 'human')::int
               + coalesce((select human_readers from issue_click_totals where issue_id = ${issueId}), 0) as human,
             (select count(distinct delivery_id) from clicks where issue_id = ${issueId} and kind = 'scanner')::int
               + coalesce((select scanner_deliveries from issue_click_totals where issue_id = ${issueId}), 0) as scanner
    `.execute(this.db);
    return result.rows[0] ?? { human: 0, scanner: 0 };
  }

  /** Messages that reached a reader (sent or delivered) for the share of readers who clicked. */
  async delivered(issueId: number): Promise<number> {
    const result = await sql<{ n: number }>`
      select count(*)::int as n from deliveries where issue_id = ${issueId} and status in ('sent', 'delivered')
    `.execute(this.db);
    return result.rows[0]?.n ?? 0;
  }

  /** All clicks ever recorded, by kind (for /metrics). */
  async totals(): Promise<{ human: number; scanner: number }> {
    const result = await sql<{ human: number; scanner: number }>`
      select ((select count(*) from clicks where kind = 'human') + (select coalesce(sum(human), 0) from click_totals))::int as human,
             ((select count(*) from clicks where kind = 'scanner') + (select coalesce(sum(scanner), 0) from click_totals))::int as scanner
    `.execute(this.db);
    return result.rows[0] ?? { human: 0, scanner: 0 };
  }

  /**
   * Retention: the clicks of deliveries whose last click is older than `days` are added to the
   * per-link and per-issue totals and deleted, in one transaction, so a report reads the same
   * before and after.
   */
  async fold(days: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const result = await sql<{ n: number }>`
        with old as (
          select delivery_id from clicks group by delivery_id
          having max(clicked_at) < now() - make_interval(days => ${days})
        ),
        gone as (
          delete from clicks c using old where c.delivery_id = old.delivery_id
          returning c.delivery_id, c.issue_id, c.position, c.kind
        ),
        per_link as (
          insert into click_totals as t (issue_id, position, human, scanner)
          select issue_id, position, count(*) filter (where kind = 'human'), count(*) filter (where kind = 'scanner')
            from gone group by issue_id, position
          on conflict (issue_id, position) do update
            set human = t.human + excluded.human, scanner = t.scanner + excluded.scanner
          returning 1
        ),
        per_issue as (
          insert into issue_click_totals as t (issue_id, human_readers, scanner_deliveries)
          select issue_id, count(distinct delivery_id) filter (where kind = 'human'),
                 count(distinct delivery_id) filter (where kind = 'scanner')
            from gone group by issue_id
          on conflict (issue_id) do update
            set human_readers = t.human_readers + excluded.human_readers,
                scanner_deliveries = t.scanner_deliveries + excluded.scanner_deliveries
          returning 1
        )
        select (select count(*) from gone)::int as n, (select count(*) from per_link) as l, (select count(*) from per_issue) as i
      `.execute(trx);
      return result.rows[0]?.n ?? 0;
    });
  }
}
