import type { Database } from '../db/db.types.ts';
import type { Kysely } from 'kysely';
import { parseDigest } from '../digest/digest.parser.ts';
import type { IssueTemplate } from '../render/render.types.ts';
import { ArchiveRepository, type ArchivedIssueRow, type PublicList } from './archive.repository.ts';

export type { PublicList };

/** One issue as the public archive shows it. */
export interface ArchiveEntry {
  id: number;
  list: { slug: string; name: string };
  title: string;
  subject: string;
  lang: string;
  /** The digest's own calendar day. */
  day: string;
  preheader: string;
  /** The first line of the digest's intro ('' when it has none). */
  introLine: string;
  /** The readable, stable path: `/lists/<slug>/<day>-<slug of title>`. */
  path: string;
  publishedAt: Date;
}

export interface ArchivePage {
  entries: ArchiveEntry[];
  page: number;
  pages: number;
  total: number;
}

export const ARCHIVE_PAGE_SIZE = 20;
export const FEED_SIZE = 50;

/**
 * How long this process trusts what it last read of a public list and of the archive's version.
 * The archive's pages are cached by their version, and the version was read on every request: the
 * one query a cached page cost (about 0.6 ms of PostgreSQL per request, more than serving the page).
 * Now a cached page costs no query, and a change (an issue going out, a list edited or made
 * private) shows within this many seconds in every process sharing the database. That staleness
 * is well inside what the responses already allow: they say `Cache-Control: public, max-age=300`,
 * so browsers, feed readers and proxies may keep any of them for five minutes anyway. ETags stay
 * right: each is the hash of the body sent with it, so a 304 is only ever said for that body.
 */
export const ARCHIVE_RECHECK_MS = 5_000;
/** Distinct slugs and versions remembered at once (unknown slugs too, so they cost no query either). */
const RECENT_KEYS = 1_000;

/**
 * The public archive: sent issues of public lists, their readable URLs, and what the feed shows.
 * Private lists, drafts and issues not yet sent are simply not found, so a page cannot tell them apart.
 */
export class ArchiveService {
  private readonly repo: ArchiveRepository;
  /** First lines of intros by digest hash: a sent digest never changes, so parsing once is enough. */
  private readonly introLines = new Map<string, string>();
  /** Recent reads of lists and versions, trusted for ARCHIVE_RECHECK_MS (see there). */
  private readonly recentReads = new Map<string, { until: number; value: Promise<unknown> }>();

  constructor(db: Kysely<Database>) {
    this.repo = new ArchiveRepository(db);
  }

  /** A public list by slug, as read at most ARCHIVE_RECHECK_MS ago. */
  publicList(slug: string): Promise<PublicList | undefined> {
    return this.recent(`list:${slug}`, () => this.repo.publicList(slug));
  }

  /**
   * A fingerprint that changes whenever what the archive (of one list, or all) shows changes, as
   * read at most ARCHIVE_RECHECK_MS ago.
   */
  version(listId?: number): Promise<string> {
    return this.recent(`version:${listId ?? '*'}`, () => this.repo.version(listId));
  }

  /** One read shared by every request within the recheck time; a failed read is not kept. */
  private recent<T>(key: string, read: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.recentReads.get(key);
    if (hit && hit.until > now) return hit.value as Promise<T>;
    const value = read();
    if (this.recentReads.size >= RECENT_KEYS) this.recentReads.clear();
    this.recentReads.set(key, { until: now + ARCHIVE_RECHECK_MS, value });
    value.catch(() => this.recentReads.delete(key));
    return value;
  }

  /** One page (1-based) of the archive, newest first. */
  async page(page: number, listId?: number): Promise<ArchivePage> {
    const { rows, total } = await this.repo.page(listId, ARCHIVE_PAGE_SIZE, (page - 1) * ARCHIVE_PAGE_SIZE);
    return {
      entries: rows.map((row) => this.entry(row)),
      page,
      pages: Math.max(1, Math.ceil(total / ARCHIVE_PAGE_SIZE)),
      total,
    };
  }

  /** The issue at a readable path segment (`2025-11-10-title`) of a public list. */
  async byPath(list: PublicList, segment: string): Promise<ArchiveEntry | undefined> {
    const day = /^(\d{4}-\d{2}-\d{2})-/.exec(segment)?.[1];
    if (!day) return undefined;
    const match = (await this.repo.ofDay(list.id, day)).find((row) => pathSegment(row) === segment);
    return match ? this.entry(match) : undefined;
  }

  /** An archived issue's compiled template (asked only when a page is not cached yet). */
  async template(id: number): Promise<IssueTemplate | undefined> {
    const template = (await this.repo.template(id)) as IssueTemplate | null;
    return template?.html ? template : undefined;
  }

  /** An archived issue by id (the old `/archive/:id` URLs), with its template. */
  async byId(id: number): Promise<{ entry: ArchiveEntry; template: IssueTemplate } | undefined> {
    const row = await this.repo.byId(id);
    return row ? this.withTemplate(row) : undefined;
  }

  /** The newest issues of a list with their templates, for the feed. */
  async latest(
    list: PublicList,
    limit = FEED_SIZE,
  ): Promise<{ entry: ArchiveEntry; template: IssueTemplate }[]> {
    const { rows } = await this.repo.page(list.id, limit, 0);
    const out: { entry: ArchiveEntry; template: IssueTemplate }[] = [];
    for (const row of rows) {
      const found = await this.withTemplate(row);
      if (found) out.push(found);
    }
    return out;
  }

  private async withTemplate(
    row: ArchivedIssueRow,
  ): Promise<{ entry: ArchiveEntry; template: IssueTemplate } | undefined> {
    const template = (await this.repo.template(row.id)) as IssueTemplate | null;
    if (!template?.html) return undefined;
    return { entry: this.entry(row), template };
  }

  private entry(row: ArchivedIssueRow): ArchiveEntry {
    return {
      id: row.id,
      list: { slug: row.listSlug, name: row.listName },
      title: row.title,
      subject: row.subject,
      lang: row.lang,
      day: row.day,
      preheader: row.preheader,
      introLine: this.introLine(row),
      path: `/lists/${row.listSlug}/${pathSegment(row)}`,
      publishedAt: row.publishedAt,
    };
  }

  private introLine(row: ArchivedIssueRow): string {
    let line = this.introLines.get(row.digestHash);
    if (line === undefined) {
      try {
        const intro = parseDigest(row.digestSource, `issue ${row.id}`).intro.text;
        line = intro.split('\n').find((l) => l.trim() !== '') ?? '';
      } catch {
        line = '';
      }
      if (this.introLines.size >= 5000) this.introLines.clear();
      this.introLines.set(row.digestHash, line);
    }
    return line;
  }
}

/**
 * `2025-11-10-<slug of title>`, plus `-<id>` for a later issue of the same list, day and title.
 * Made from the day and title an issue went out with, which never change, so the URL never does.
 */
function pathSegment(row: ArchivedIssueRow): string {
  const base = `${row.day}-${titleSlug(row.title)}`.replace(/-+$/, '');
  return row.dupRank > 1 ? `${base}-${row.id}` : base;
}

/**
 * Lower case, every run of characters that are not letters or digits (in any script) as one `-`, at
 * most 80 characters. Written here because the slug libraries transliterate to ASCII and drop what
 * they cannot (a Chinese title would become empty); browsers show Unicode paths readably.
 */
export function titleSlug(title: string): string {
  const slug = title
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
  return Array.from(slug).slice(0, 80).join('').replace(/-+$/, '');
}
