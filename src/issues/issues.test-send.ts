import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import { invalid } from '../core/errors.ts';
import type { Database } from '../db/db.types.ts';
import { loadDigest } from '../digest/digest.parser.ts';
import { compileIssue } from '../render/issue.compiler.ts';
import { MessageBuilder } from '../render/message.builder.ts';
import type { IssueTemplate } from '../render/render.types.ts';
import { ListsService } from '../subscriptions/lists.service.ts';
import { requireEmail } from '../subscriptions/subscribers.service.ts';
import { TokenSigner } from '../core/tokens.ts';
import type { Transport } from '../transports/transport.types.ts';
import { IssuesRepository } from './issues.repository.ts';
import { IssuesService } from './issues.service.ts';

export interface TestSendResult {
  to: string;
  messageId: string;
  response: string;
}

/**
 * An editor's test send: the real message, right now, to any addresses. It is marked as a test (the
 * subject says [TEST], its unsubscribe link only shows a notice) and leaves no trace in deliveries,
 * so an issue's numbers only ever count its readers.
 */
export class TestSendService {
  private readonly issues: IssuesService;
  private readonly repo: IssuesRepository;
  private readonly lists: ListsService;
  private readonly builder: MessageBuilder;

  constructor(
    db: Kysely<Database>,
    private readonly config: Config,
    private readonly transport: Transport,
  ) {
    this.issues = new IssuesService(db, config);
    this.repo = new IssuesRepository(db);
    this.lists = new ListsService(db);
    this.builder = new MessageBuilder(config, new TokenSigner(config.SECRET_KEY));
  }

  /** `source` is an issue id or a digest file; a file is rendered for `listSlug` (or the only list). */
  async send(source: string, toInput: string, listSlug?: string): Promise<TestSendResult[]> {
    const recipients = [
      ...new Set(
        toInput
          .split(',')
          .map((a) => a.trim())
          .filter(Boolean)
          .map(requireEmail),
      ),
    ];
    if (recipients.length === 0)
      throw invalid('issues.test_no_recipients', '--to needs at least one address');
    const { id, template, list } = /^\d+$/.test(source.trim())
      ? await this.fromIssue(source)
      : await this.fromDigest(source, listSlug);
    const results: TestSendResult[] = [];
    for (const email of recipients) {
      const message = this.builder.build(
        { id, template, list },
        { email, name: null, subscriberId: 0 },
        { test: true },
      );
      const result = await this.transport.send({ ...message, tags: { ...message.tags, kind: 'test' } });
      results.push({ to: email, messageId: message.messageId, response: result.response });
    }
    return results;
  }

  private async fromIssue(idText: string) {
    const issue = await this.issues.require(idText);
    const template = (await this.repo.template(issue.id)) as IssueTemplate;
    return { id: issue.id, template, list: { id: issue.listId, slug: issue.listSlug, name: issue.listName } };
  }

  private async fromDigest(path: string, listSlug: string | undefined) {
    const digest = await loadDigest(path, { timeZone: this.config.TZ });
    let list: { id: number; slug: string; name: string };
    if (listSlug) {
      list = await this.lists.require(listSlug);
    } else {
      const all = await this.lists.all();
      if (all.length !== 1) {
        throw invalid(
          'issues.test_list_needed',
          all.length === 0
            ? 'there is no list yet: create one first (digestmail list create)'
            : `say which list the test is for: --list ${all.map((l) => l.slug).join(' | ')}`,
        );
      }
      list = all[0]!;
    }
    const template = await compileIssue(digest, { config: this.config, list });
    return { id: 0, template, list: { id: list.id, slug: list.slug, name: list.name } };
  }
}
