import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/db.types.ts';

/**
 * The public archive's queries: issues that have gone out (sending or sent) to public lists. An
 * issue's publication time is when its send started (else when it was due, else created); its place
 * among same-day issues of the same title (`dup_rank`) decides which one gets the plain readable URL.
 */
export interface ArchivedIssueRow {
  id: number;
  listId: number;
  listSlug: string;
  listName: string;
  title: string;
  subject: string;
  lang: string;
  /** The digest's own calendar day, `2025-11-10`. */
  day: string;
  preheader: string;
  digestSource: string;
  digestHash: string;
  publishedAt: Date;
  /** 1 for the first issue of its list, day and title to go out; 2, 3, … for later ones. */
  dupRank: number;
}

export interface PublicList {
  id: number;
  slug: string;
  name: string;
  description: string;
  language: string;
  updatedAt: Date;
}

const PUBLISHED_AT = sql<Date>`coalesce(i.started_at, i.send_at, i.created_at)`;

export class ArchiveRepository {
  constructor(private readonly db: Kysely<Database>) {}

  private archived() {
    return this.db
      .selectFrom('issues as i')
      .innerJoin('lists as l', 'l.id', 'i.list_id')
      .where('l.is_public', '=', true)
      .where('i.status', 'in', ['sending', 'sent'])
      .where(sql<boolean>`i.template is not null`);
  }

  /** The archived issues with their rank among same-day, same-title issues of their list. */
  private ranked(listId: number | undefined) {
    let q = this.archived().select([
      'i.id',
      'i.list_id',
      'l.slug as list_slug',
      'l.name as list_name',
      'i.title',
      'i.subject',
      'i.lang',
      'i.digest_source',
      'i.digest_hash',
      sql<string>`i.template->>'day'`.as('day'),
      sql<string>`coalesce(i.template->>'preheader', '')`.as('preheader'),
      PUBLISHED_AT.as('published_at'),
      sql<number>`row_number() over (partition by i.list_id, i.template->>'day', i.title order by ${PUBLISHED_AT}, i.id)::int`.as(
        'dup_rank',
      ),
    ]);
    if (listId !== undefined) q = q.where('i.list_id', '=', listId);
    return q;
  }

  async publicList(slug: string): Promise<PublicList | undefined> {
    const row = await this.db
      .selectFrom('lists')
      .select(['id', 'slug', 'name', 'description', 'language', 'updated_at'])
      .where('slug', '=', slug)
      .where('is_public', '=', true)
      .executeTakeFirst();
    return row
      ? {
          id: row.id,
          slug: row.slug,
          name: row.name,
          description: row.description,
          language: row.language,
          updatedAt: new Date(row.updated_at as unknown as string),
        }
      : undefined;
  }

  /** Newest first; `total` counts them all. */
  async page(
    listId: number | undefined,
    limit: number,
    offset: number,
  ): Promise<{ rows: ArchivedIssueRow[]; total: number }> {
    const rows = await this.db
      .selectFrom(this.ranked(listId).as('r'))
      .selectAll()
      .orderBy('r.published_at', 'desc')
      .orderBy('r.id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute();
    let count = this.archived().select(sql<number>`count(*)::int`.as('n'));
    if (listId !== undefined) count = count.where('i.list_id', '=', listId);
    const { n } = await count.executeTakeFirstOrThrow();
    return { rows: rows.map(toRow), total: n };
  }

  /** The archived issues of one list and day, in publication order. */
  async ofDay(listId: number, day: string): Promise<ArchivedIssueRow[]> {
    const rows = await this.db
      .selectFrom(this.ranked(listId).where(sql<string>`i.template->>'day'`, '=', day).as('r'))
      .selectAll()
      .orderBy('r.published_at')
      .orderBy('r.id')
      .execute();
    return rows.map(toRow);
  }

  async byId(id: number): Promise<ArchivedIssueRow | undefined> {
    const issue = await this.db
      .selectFrom('issues')
      .select(['list_id'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!issue) return undefined;
    const rows = await this.db
      .selectFrom(this.ranked(issue.list_id).as('r'))
      .selectAll()
      .where('r.id', '=', id)
      .execute();
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  async template(id: number): Promise<unknown> {
    const row = await this.db.selectFrom('issues').select('template').where('id', '=', id).executeTakeFirst();
    return row?.template ?? null;
  }

  /**
   * A short fingerprint of everything the archive of a list (or of all public lists) shows: it
   * changes when an issue goes out or a list changes, and is cheap enough to ask on every request.
   */
  async version(listId: number | undefined): Promise<string> {
    let q = this.archived().select([
      sql<number>`count(*)::int`.as('n'),
      sql<number>`coalesce(max(i.id), 0)::int`.as('max_id'),
      sql<string>`coalesce(max(${PUBLISHED_AT})::text, '')`.as('latest'),
      sql<string>`coalesce(max(l.updated_at)::text, '')`.as('lists_changed'),
    ]);
    if (listId !== undefined) q = q.where('i.list_id', '=', listId);
    const row = await q.executeTakeFirstOrThrow();
    return `${row.n}.${row.max_id}.${row.latest}.${row.lists_changed}`;
  }
}

function toRow(r: {
  id: number;
  list_id: number;
  list_slug: string;
  list_name: string;
  title: string;
  subject: string;
  lang: string;
  digest_source: string;
  digest_hash: string;
  day: string;
  preheader: string;
  published_at: Date;
  dup_rank: number;
}): ArchivedIssueRow {
  return {
    id: r.id,
    listId: r.list_id,
    listSlug: r.list_slug,
    listName: r.list_name,
    title: r.title,
    subject: r.subject,
    lang: r.lang,
    day: r.day,
    preheader: r.preheader,
    digestSource: r.digest_source,
    digestHash: r.digest_hash,
    publishedAt: new Date(r.published_at),
    dupRank: r.dup_rank,
  };
}
