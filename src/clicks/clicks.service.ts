import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { CallBatcher } from '../core/call.batcher.ts';
import { type ClickInput, ClicksRepository, type LinkClicks } from './clicks.repository.ts';
import { BURST_SECONDS, type ClickKind, firstVerdict } from './clicks.scanner.ts';

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

/** The most clicks recorded in one database call. */
const CLICK_BATCH = 200;
/** Batches of clicks on their way to the database at once (connections of the pool they may take). */
const CLICK_BATCHES_IN_FLIGHT = 2;

/** Issues whose links are kept in memory: a redirect then costs no lookup, only the insert. */
const LINK_CACHE_ISSUES = 1_000;

/**
 * Click counts: the redirect's lookup and record, reports, and retention. What a reader is sent to
 * comes only from the issue's stored links, never from the request, so `/c/…` cannot be made into
 * an open redirect.
 */
export class ClicksService {
  private readonly repo: ClicksRepository;
  /** Links by issue, read once per issue (an issue's links never change once it is compiled). */
  private readonly links = new Map<number, Promise<Map<number, string>>>();
  /**
   * Clicks go to the database in batches (group commit, see call.batcher.ts): a click arriving while
   * a batch is on its way waits for the next one. Link scanners open every link of a message at once,
   * and readers of a large list click within the same minutes; one call per batch keeps a redirect's
   * cost a fraction of an insert's round trip and commit.
   */
  private readonly batcher: CallBatcher<ClickInput, ClickKind | 'burst' | undefined>;

  constructor(db: Kysely<Database>) {
    this.repo = new ClicksRepository(db);
    this.batcher = new CallBatcher((clicks) => this.repo.recordMany(clicks, BURST_SECONDS), {
      maxBatch: CLICK_BATCH,
      concurrency: CLICK_BATCHES_IN_FLIGHT,
    });
  }

  private issueLinks(issueId: number): Promise<Map<number, string>> {
    let links = this.links.get(issueId);
    if (!links) {
      if (this.links.size >= LINK_CACHE_ISSUES) this.links.clear();
      links = this.repo.links(issueId);
      this.links.set(issueId, links);
      // A failed or empty read is not kept: the next click asks again.
      links.then(
        (found) => {
          if (found.size === 0) this.links.delete(issueId);
        },
        () => this.links.delete(issueId),
      );
    }
    return links;
  }

  /** Where a click on this link goes, or undefined for a link the issue does not have. */
  async target(issueId: number, position: number): Promise<string | undefined> {
    return (await this.issueLinks(issueId)).get(position);
  }

  /**
   * Counts the first click of one delivery on one link, as human or scanner (see clicks.scanner.ts),
   * burst rule included, in a batch with the clicks that arrive meanwhile: one database call per
   * batch (one indexed insert per click; a click soon after delivery also counts that delivery's
   * clicks). The issue's link count comes from the cached links.
   */
  async record(input: {
    issueId: number;
    deliveryId: number;
    position: number;
    method: string;
    userAgent: string | undefined;
  }): Promise<ClickKind | 'burst' | undefined> {
    const kind = firstVerdict(input.method, input.userAgent);
    const links = (await this.issueLinks(input.issueId)).size;
    return this.batcher.call({
      deliveryId: input.deliveryId,
      issueId: input.issueId,
      position: input.position,
      kind,
      links,
    });
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

  /** Folds the click totals' delta rows into one row per kind. */
  compactCounts(): Promise<void> {
    return this.repo.compactCounts();
  }

  /** Folds and deletes per-delivery rows older than `days`; returns how many rows went. */
  async fold(days: number): Promise<number> {
    const folded = await this.repo.fold(days);
    // The hourly fold also folds the totals' deltas (one row per click), scraped or not.
    await this.repo.compactCounts();
    return folded;
  }
}
