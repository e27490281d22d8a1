import { basename } from 'node:path';
import type { Kysely, Transaction } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import { AppError, invalid, notFound } from '../core/errors.ts';
import type { Database } from '../db/db.types.ts';
import { DeliveriesRepository, type IssueCounts } from '../delivery/deliveries.repository.ts';
import type { Digest } from '../digest/digest.types.ts';
import type { IssueTemplate } from '../render/render.types.ts';
import type { List } from '../subscriptions/lists.repository.ts';
import { ListsService } from '../subscriptions/lists.service.ts';
import {
  type BounceReasonCount,
  type Issue,
  IssuesRepository,
  type IssueSummary,
} from './issues.repository.ts';

export type { Issue, IssueCounts, IssueSummary };

export interface IssueStatusReport {
  issue: Issue;
  counts: IssueCounts;
  /** Why its mail bounced, by reason (most frequent first), with the latest remote words of each. */
  bounces: BounceReasonCount[];
}

/** A moment a user typed: ISO 8601, with or without a zone (without one it is read in TZ). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * The life of an issue: draft → scheduled → sending → sent, with paused and cancelled on the side.
 * Every state change happens on a locked issue row, so a scheduler in one process and a user's
 * command in another can never both start the same issue.
 */
export class IssuesService {
  private readonly repo: IssuesRepository;
  private readonly deliveries: DeliveriesRepository;
  private readonly lists: ListsService;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly config: Config,
  ) {
    this.repo = new IssuesRepository(db);
    this.deliveries = new DeliveriesRepository(db);
    this.lists = new ListsService(db);
  }

  /** Creates a draft (or, with `at`, a scheduled issue) from a digest file for one list. */
  async create(input: { digestPath: string; listSlug: string; at?: string }): Promise<Issue> {
    const sendAt = input.at === undefined ? null : parseFutureTime(input.at);
    const list = await this.lists.require(input.listSlug);
    // Loaded on use: workers and the scheduler create issues rarely and should not carry the
    // Markdown parser and MJML in memory for it.
    const { loadDigest } = await import('../digest/digest.parser.ts');
    const digest = await loadDigest(input.digestPath, { timeZone: this.config.TZ });
    const id = await this.createFromDigest(digest, list, {
      status: sendAt ? 'scheduled' : 'draft',
      sendAt,
      digestPath: input.digestPath,
    });
    return this.require(id!);
  }

  /** The console's "new issue": a digest pasted or uploaded, not a file on the server. */
  async createFromMarkdown(markdown: string, listSlug: string): Promise<Issue> {
    if (!listSlug) throw invalid('issues.list_missing', 'choose the list this issue is for');
    const list = await this.lists.require(listSlug);
    if (markdown.trim() === '')
      throw invalid('digest.invalid', 'the digest is empty: paste it or upload its file');
    const { parseDigest } = await import('../digest/digest.parser.ts');
    const digest = parseDigest(markdown, 'digest.md', { timeZone: this.config.TZ });
    const id = await this.createFromDigest(digest, list, { status: 'draft', sendAt: null });
    return this.require(id!);
  }

  /**
   * The issue's HTML as the web version shows it: the same for every reader, whose personal links
   * (unsubscribe, preferences) lead to the signup page instead.
   */
  async webVersion(id: number): Promise<string | undefined> {
    const template = (await this.repo.template(id)) as IssueTemplate | null | undefined;
    if (!template?.html) return undefined;
    const { webVersionHtml } = await import('../render/web-version.ts');
    return webVersionHtml(template, this.config.PUBLIC_URL, id);
  }

  /**
   * Compiles the digest once for the list and stores the issue. With an autoKey (DIGESTS_DIR pickup)
   * a second call for the same file and content creates nothing and returns undefined.
   */
  async createFromDigest(
    digest: Digest,
    list: Pick<List, 'id' | 'slug' | 'name'>,
    options: { status: 'draft' | 'scheduled'; sendAt: Date | null; digestPath?: string; autoKey?: string },
  ): Promise<number | undefined> {
    const { compileIssue } = await import('../render/issue.compiler.ts');
    const template = await compileIssue(digest, {
      config: this.config,
      list: { slug: list.slug, name: list.name },
    });
    return this.repo.insert({
      listId: list.id,
      status: options.status,
      subject: digest.subject,
      title: digest.title,
      lang: digest.lang,
      categories: digest.categories,
      digestPath: options.digestPath ? basename(options.digestPath) : null,
      digestSource: digest.source,
      digestHash: digest.hash,
      digestDate: digest.date,
      template,
      sendAt: options.sendAt,
      ...(options.autoKey ? { autoKey: options.autoKey } : {}),
    });
  }

  /** The issue a user named, or a one-line error naming what they typed. */
  async require(idInput: string | number): Promise<Issue> {
    const id = parseIssueId(idInput);
    const issue = await this.repo.find(id);
    if (!issue) throw notFound('issues.not_found', `no issue with id ${id} (see: digestmail issue ls)`);
    return issue;
  }

  all(): Promise<IssueSummary[]> {
    return this.repo.all();
  }

  async schedule(idInput: string, at: string): Promise<Issue> {
    const sendAt = parseFutureTime(at);
    return this.change(idInput, ['draft', 'scheduled'], 'schedule', async (issue, trx) => {
      await this.repo.update(issue.id, { status: 'scheduled', sendAt }, trx);
    });
  }

  async pause(idInput: string): Promise<Issue> {
    return this.change(idInput, ['scheduled', 'sending'], 'pause', async (issue, trx) => {
      await this.repo.update(issue.id, { status: 'paused', pauseReason: 'paused by a user' }, trx);
    });
  }

  /** A paused issue goes back to sending if it had started, otherwise back to its schedule. */
  async resume(idInput: string): Promise<Issue> {
    return this.change(idInput, ['paused'], 'resume', async (issue, trx) => {
      const status = issue.startedAt ? 'sending' : issue.sendAt ? 'scheduled' : 'draft';
      await this.repo.update(issue.id, { status, pauseReason: null }, trx);
    });
  }

  async cancel(idInput: string): Promise<Issue> {
    return this.change(idInput, ['draft', 'scheduled', 'sending', 'paused'], 'cancel', async (issue, trx) => {
      await this.repo.update(issue.id, { status: 'cancelled' }, trx);
    });
  }

  /** Starts sending now: freezes the recipients and hands the issue to the workers. */
  async send(idInput: string): Promise<{ issue: Issue; enqueued: number }> {
    const id = parseIssueId(idInput);
    const enqueued = await this.db.transaction().execute((trx) => this.start(trx, id, 'throw'));
    return { issue: await this.require(id), enqueued };
  }

  /**
   * Moves one draft or scheduled issue to `sending` and enqueues its deliveries, inside the caller's
   * transaction. An issue that would reach nobody is refused (a user's `send`) or paused with the
   * reason (the scheduler, which has nobody to tell).
   */
  async start(trx: Transaction<Database>, id: number, onEmpty: 'throw' | 'pause'): Promise<number> {
    const issue = await this.repo.findForUpdate(trx, id);
    if (!issue) throw notFound('issues.not_found', `no issue with id ${id} (see: digestmail issue ls)`);
    if (issue.status === 'sending') return 0;
    if (issue.status !== 'draft' && issue.status !== 'scheduled') {
      throw new AppError(
        'issues.bad_state',
        `issue ${id} is ${issue.status}${issue.status === 'paused' ? ': resume it instead (digestmail issue resume)' : ' and cannot be sent'}`,
        { status: 409 },
      );
    }
    const enqueued = await this.deliveries.enqueue(trx, id);
    if (enqueued === 0) {
      // On the caller's transaction: with one connection (PGlite, a pool of 1) a query on the
      // outer handle would wait for this very transaction to end.
      const audience = await this.repo.audience(issue.listId, trx);
      const why =
        audience.confirmed === 0
          ? `list "${issue.listSlug}" has no confirmed subscribers`
          : audience.suppressed === audience.confirmed
            ? `every confirmed subscriber of list "${issue.listSlug}" is suppressed or blocklisted`
            : `no confirmed subscriber of list "${issue.listSlug}" chose the topics of this issue (${issue.categories.join(', ') || 'none'})`;
      if (onEmpty === 'throw') {
        throw new AppError('issues.no_recipients', `issue ${id} would reach nobody: ${why}`, { status: 409 });
      }
      await this.repo.update(id, { status: 'paused', pauseReason: `nobody to send to: ${why}` }, trx);
      return 0;
    }
    await this.repo.update(
      id,
      {
        status: 'sending',
        startedAt: new Date(),
        pauseReason: null,
        ...(issue.sendAt ? {} : { sendAt: new Date() }),
      },
      trx,
    );
    return enqueued;
  }

  async status(idInput: string | number): Promise<IssueStatusReport> {
    const issue = await this.require(idInput);
    return {
      issue,
      counts: await this.deliveries.counts(issue.id),
      bounces: await this.repo.bounceReasons(issue.id),
    };
  }

  private async change(
    idInput: string,
    from: Issue['status'][],
    verb: string,
    apply: (issue: Issue, trx: Transaction<Database>) => Promise<void>,
  ): Promise<Issue> {
    const id = parseIssueId(idInput);
    await this.db.transaction().execute(async (trx) => {
      const issue = await this.repo.findForUpdate(trx, id);
      if (!issue) throw notFound('issues.not_found', `no issue with id ${id} (see: digestmail issue ls)`);
      if (!from.includes(issue.status)) {
        throw new AppError('issues.bad_state', `cannot ${verb} issue ${id}: it is ${issue.status}`, {
          status: 409,
        });
      }
      await apply(issue, trx);
    });
    return this.require(id);
  }
}

export function parseIssueId(input: string | number): number {
  const text = String(input).trim();
  if (!/^\d{1,9}$/.test(text) || Number(text) === 0) {
    throw invalid(
      'issues.id_invalid',
      `"${text}" is not an issue id (a whole number, see: digestmail issue ls)`,
    );
  }
  return Number(text);
}

/** A send time a user typed: an ISO 8601 date and time that is not in the past. */
export function parseFutureTime(input: string, now = new Date()): Date {
  const text = input.trim();
  const at = ISO_TIME.test(text) ? new Date(text.replace(' ', 'T')) : new Date(Number.NaN);
  if (Number.isNaN(at.getTime())) {
    throw invalid(
      'issues.at_invalid',
      `--at "${input}" is not a date and time such as 2026-12-01T09:00:00+08:00`,
    );
  }
  // A minute of grace, so "now" typed by hand is not refused for the seconds it took to type.
  if (at.getTime() < now.getTime() - 60_000) {
    throw invalid(
      'issues.at_past',
      `--at ${at.toISOString()} is in the past; to send now use: digestmail issue send <id>`,
    );
  }
  return at;
}
