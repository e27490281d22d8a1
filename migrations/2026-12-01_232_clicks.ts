import { type Kysely, sql } from 'kysely';

/**
 * Click counts, opt-in per list and per reader: `lists.track_clicks` (off by default) and
 * `subscribers.track_clicks` (a reader can turn it off for themselves). The links of each issue are
 * stored once, by position, so a redirect only ever goes to a URL the issue contains. `clicks` holds
 * at most one row per (delivery, link): the first click, whether it looked human or like a link
 * scanner, and when; nothing about the reader's address, IP or browser. After CLICK_RETENTION_DAYS
 * the rows are folded into the per-link and per-issue totals and deleted.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table lists add column track_clicks boolean not null default false`.execute(db);
  await sql`alter table subscribers add column track_clicks boolean not null default true`.execute(db);
  await sql`
    create table issue_links (
      issue_id integer not null references issues (id) on delete cascade,
      position integer not null,
      url text not null,
      title text not null,
      domain text not null,
      primary key (issue_id, position)
    )
  `.execute(db);
  await sql`
    create table clicks (
      delivery_id bigint not null,
      position integer not null,
      issue_id integer not null,
      kind text not null check (kind in ('human', 'scanner')),
      clicked_at timestamptz not null default now(),
      primary key (delivery_id, position)
    )
  `.execute(db);
  await sql`create index clicks_issue_idx on clicks (issue_id, position)`.execute(db);
  await sql`create index clicks_clicked_at_idx on clicks (clicked_at)`.execute(db);
  await sql`
    create table click_totals (
      issue_id integer not null,
      position integer not null,
      human integer not null default 0,
      scanner integer not null default 0,
      primary key (issue_id, position)
    )
  `.execute(db);
  await sql`
    create table issue_click_totals (
      issue_id integer primary key,
      human_readers integer not null default 0,
      scanner_deliveries integer not null default 0
    )
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists issue_click_totals`.execute(db);
  await sql`drop table if exists click_totals`.execute(db);
  await sql`drop table if exists clicks`.execute(db);
  await sql`drop table if exists issue_links`.execute(db);
  await sql`alter table subscribers drop column if exists track_clicks`.execute(db);
  await sql`alter table lists drop column if exists track_clicks`.execute(db);
}
