import { type Kysely, sql } from 'kysely';
import type { ClickKind, Database } from '../db/db.types.ts';
import { vacuumSmallTables } from '../db/maintenance.repository.ts';

/** One click to record: which delivery, which link, how it looked, and how many links the issue has. */
export interface ClickInput {
  deliveryId: number;
  issueId: number;
  position: number;
  kind: ClickKind;
  links: number;
}

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

  /** Every link of an issue, by position (they never change once the issue is compiled). */
  async links(issueId: number): Promise<Map<number, string>> {
    const rows = await this.db
      .selectFrom('issue_links')
      .select(['position', 'url'])
      .where('issue_id', '=', issueId)
      .execute();
    return new Map(rows.map((r) => [r.position, r.url]));
  }

  /**
   * Records clicks in one call of `digestmail_record_clicks` (src/db/functions/61_record_clicks.sql),
   * each judged by `digestmail_record_click` (60_record_click.sql), in order: nothing for a delivery
   * that is not of its issue, nothing more for a second click; when a click completes a burst (every
   * one of the issue's `links` opened within `burstSeconds` of delivery), the burst's clicks become
   * 'scanner'. Returns what each recorded ('burst' for a completed burst, undefined for nothing), in
   * order.
   */
  async recordMany(clicks: ClickInput[], burstSeconds: number): Promise<(ClickKind | 'burst' | undefined)[]> {
    const column = <T>(pick: (c: ClickInput) => T) => clicks.map(pick);
    const result = await sql<{ recorded: (ClickKind | 'burst' | null)[] }>`
      select digestmail_record_clicks(${column((c) => c.deliveryId)}::bigint[], ${column((c) => c.issueId)}::integer[],
                                      ${column((c) => c.position)}::integer[], ${column((c) => c.kind)}::text[],
                                      ${column((c) => c.links)}::integer[], ${burstSeconds}::integer) as recorded
    `.execute(this.db);
    return (result.rows[0]?.recorded ?? []).map((r) => r ?? undefined);
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

  /**
   * Messages that reached a reader (sent or delivered) for the share of readers who clicked, from
   * the per-issue counts kept as deliveries change (migration 140): a few rows, not a million.
   */
  async delivered(issueId: number): Promise<number> {
    const result = await sql<{ n: number }>`
      select coalesce(sum(n), 0)::int as n from delivery_counts where issue_id = ${issueId} and status in ('sent', 'delivered')
    `.execute(this.db);
    return result.rows[0]?.n ?? 0;
  }

  /**
   * All clicks ever recorded, by kind (for /metrics), from the totals kept as clicks are recorded
   * (migration 420): a few rows, however many clicks there are, once the deltas are folded (serve
   * folds them every second in the background).
   */
  async totals(): Promise<{ human: number; scanner: number }> {
    const result = await sql<{ human: number; scanner: number }>`
      select coalesce(sum(n) filter (where kind = 'human'), 0)::bigint as human,
             coalesce(sum(n) filter (where kind = 'scanner'), 0)::bigint as scanner
        from click_counts
    `.execute(this.db);
    const row = result.rows[0];
    return { human: Number(row?.human ?? 0), scanner: Number(row?.scanner ?? 0) };
  }

  /**
   * Folds the click totals' delta rows into one row per kind (62_compact_click_counts.sql) and
   * vacuums the table (see vacuumSmallTables).
   */
  async compactCounts(): Promise<void> {
    await sql`select digestmail_compact_click_counts()`.execute(this.db);
    await vacuumSmallTables(this.db, ['click_counts']);
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
