import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Config } from '../../config/config.loader.ts';
import type { Database } from '../../db/db.types.ts';
import { PreviewsService } from '../../editors/previews.service.ts';
import { IssuesService } from '../../issues/issues.service.ts';
import { ListsService } from '../../subscriptions/lists.service.ts';

export interface PreviewSummary {
  id: string;
  from: string;
  subject: string;
  preheader: string;
  items: number;
  htmlBytes: number;
  warnings: string[];
}

/**
 * The console's previews: a digest being written, rendered exactly as a reader of the chosen list
 * would get it (the same parse, compile and message builder as a send), and an existing issue's
 * web version. Rendering loads MJML, so it is imported on first use.
 */
export class ConsolePreviews {
  private readonly repo: PreviewsService;
  private readonly lists: ListsService;
  private readonly issues: IssuesService;

  constructor(
    db: Kysely<Database>,
    private readonly config: Config,
  ) {
    this.repo = new PreviewsService(db);
    this.lists = new ListsService(db);
    this.issues = new IssuesService(db, config);
  }

  async fromMarkdown(
    editorId: number,
    markdown: string,
    listSlug: string | undefined,
  ): Promise<PreviewSummary> {
    const [{ parseDigest }, { previewMessage }] = await Promise.all([
      import('../../digest/digest.parser.ts'),
      import('../../render/preview.ts'),
    ]);
    const digest = parseDigest(markdown, 'digest.md', { timeZone: this.config.TZ });
    const list = listSlug ? await this.lists.require(listSlug) : undefined;
    const message = await previewMessage(
      digest,
      this.config,
      list ? { list: { slug: list.slug, name: list.name } } : {},
    );
    const id = randomBytes(18).toString('base64url');
    await this.repo.save(id, editorId, message.html);
    return {
      id,
      from: this.config.MAIL_FROM,
      subject: digest.subject,
      preheader: digest.preheader,
      items: digest.items.length,
      htmlBytes: Buffer.byteLength(message.html),
      warnings: digest.warnings,
    };
  }

  frame(editorId: number, id: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9_-]{24}$/.test(id)) return Promise.resolve(undefined);
    return this.repo.find(id, editorId);
  }

  /** The issue as the web version shows it: the same for every reader, no personal links. */
  ofIssue(id: number): Promise<string | undefined> {
    return this.issues.webVersion(id);
  }
}
