import type { Kysely } from 'kysely';
import type { Database, IssueStatus } from '../db/db.types.ts';
import type { IssueSource, SendingIssue } from '../delivery/deliveries.worker.ts';
import { IssuesRepository } from './issues.repository.ts';

/**
 * The issues module's side of the worker's IssueSource: which issues are sending, and what a
 * "drained" or "fatal" report from a worker does to an issue's status. Handed to the worker when the
 * process is wired up (startSending), so the worker never writes an issue's status itself.
 */
export class IssueLifecycle implements IssueSource {
  private readonly repo: IssuesRepository;

  constructor(db: Kysely<Database>) {
    this.repo = new IssuesRepository(db);
  }

  sendingIds(): Promise<number[]> {
    return this.repo.sendingIds();
  }

  statuses(ids: number[]): Promise<Map<number, IssueStatus>> {
    return this.repo.statuses(ids);
  }

  async load(id: number): Promise<SendingIssue | undefined> {
    const issue = await this.repo.find(id);
    if (!issue) return undefined;
    return {
      id,
      status: issue.status,
      template: await this.repo.template(id),
      list: {
        id: issue.listId,
        slug: issue.listSlug,
        name: issue.listName,
        trackClicks: issue.listTrackClicks,
      },
    };
  }

  /** Nothing left to send: the issue is sent (once, whichever worker reports it first). */
  drained(issueId: number): Promise<boolean> {
    return this.repo.finishIfDrained(issueId);
  }

  /** The issue cannot go on: it is paused with the reason, for an editor to look at and resume. */
  fatal(issueId: number, reason: string): Promise<boolean> {
    return this.repo.pauseSending(issueId, reason);
  }
}
