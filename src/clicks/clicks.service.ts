import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { ClicksRepository, type LinkClicks } from './clicks.repository.ts';
import { BURST_SECONDS, firstVerdict } from './clicks.scanner.ts';

export interface ClickReport {
  issue: number;
  /** Messages that reached a reader. */
  delivered: number;
  /** Readers with at least one human click. */
  human: number;
  /** Deliveries with scanner clicks. */
  scanner: number;
  links: LinkClicks[];
}

/** Links of an issue never change once it is compiled: a small cache spares the redirect a query. */
const LINK_CACHE_SIZE = 10_000;

/**
 * Click counts: the redirect's lookup and record, reports, and retention. What a reader is sent to
 * comes only from the issue's stored links, never from the request, so `/c/…` cannot be made into
 * an open redirect.
 */
export class ClicksService {
  private readonly repo: ClicksRepository;
  private readonly links = new Map<string, string>();

  constructor(db: Kysely<Database>) {
    this.repo = new ClicksRepository(db);
  }

  /** Where a click on this link goes, or undefined for a link the issue does not have. */
  async target(issueId: number, position: number): Promise<string | undefined> {
    const key = `${issueId}:${position}`;
    const cached = this.links.get(key);
    if (cached !== undefined) return cached;
    const url = await this.repo.link(issueId, position);
    if (url !== undefined) {
      if (this.links.size >= LINK_CACHE_SIZE) this.links.clear();
      this.links.set(key, url);
    }
    return url;
  }

  /**
   * Counts the first click of one delivery on one link, as human or scanner (see clicks.scanner.ts).
   * One insert; the burst check runs only for a human-looking click soon after delivery.
   */
  async record(input: {
    issueId: number;
    deliveryId: number;
    position: number;
    method: string;
    userAgent: string | undefined;
  }): Promise<void> {
    const kind = firstVerdict(input.method, input.userAgent);
    const { recorded, early } = await this.repo.record(
      input.deliveryId,
      input.issueId,
      input.position,
      kind,
      BURST_SECONDS,
    );
    if (recorded && early && kind === 'human')
      await this.repo.markBurst(input.deliveryId, input.issueId, BURST_SECONDS);
  }

  async report(issueId: number): Promise<ClickReport> {
    const [delivered, readers, links] = await Promise.all([
      this.repo.delivered(issueId),
      this.repo.readers(issueId),
      this.repo.perLink(issueId),
    ]);
    return { issue: issueId, delivered, human: readers.human, scanner: readers.scanner, links };
  }

  totals(): Promise<{ human: number; scanner: number }> {
    return this.repo.totals();
  }

  /** Folds and deletes per-delivery rows older than `days`; returns how many rows went. */
  fold(days: number): Promise<number> {
    return this.repo.fold(days);
  }
}
