import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import { isAppError } from '../core/errors.ts';
import type { Database } from '../db/db.types.ts';
import type { Digest } from '../digest/digest.types.ts';
import { IssuesRepository } from './issues.repository.ts';
import { IssuesService } from './issues.service.ts';
import { ListsService } from '../subscriptions/lists.service.ts';

export interface AutoSendReport {
  created: { issueId: number; file: string; list: string }[];
  skipped: { file: string; reason: string }[];
}

/**
 * Turns digest files in DIGESTS_DIR into scheduled issues once their front-matter date has come.
 * Each (file name, content hash, list) becomes exactly one issue, keyed in `issues.auto_key` (a unique
 * column), so however many processes look at the folder, and however often, nothing is sent twice;
 * an edited file is a new digest and becomes a new issue.
 */
export class AutoSendService {
  private readonly issues: IssuesService;
  private readonly repo: IssuesRepository;
  private readonly lists: ListsService;

  constructor(
    db: Kysely<Database>,
    private readonly config: Config,
  ) {
    this.issues = new IssuesService(db, config);
    this.repo = new IssuesRepository(db);
    this.lists = new ListsService(db);
  }

  async scan(now = new Date()): Promise<AutoSendReport> {
    const report: AutoSendReport = { created: [], skipped: [] };
    const dir = this.config.DIGESTS_DIR;
    if (!dir) return report;
    const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.md')).sort();
    // Loaded on use, so a worker without DIGESTS_DIR never holds the Markdown parser.
    const { parseDigest } = await import('../digest/digest.parser.ts');
    for (const file of files) {
      const skip = (reason: string) => report.skipped.push({ file, reason });
      let digest: Digest;
      try {
        digest = parseDigest(await fs.readFile(join(dir, file), 'utf8'), file, { timeZone: this.config.TZ });
      } catch (error) {
        // One broken file never holds up the others.
        skip(isAppError(error) ? error.message : `cannot read: ${(error as Error).message}`);
        continue;
      }
      if (digest.draft) {
        skip('draft');
        continue;
      }
      if (digest.date.getTime() > now.getTime()) {
        skip(`dated ${digest.dateText}, not yet`);
        continue;
      }
      const slugs = digest.lists?.length
        ? digest.lists
        : this.config.AUTO_SEND_LIST
          ? [this.config.AUTO_SEND_LIST]
          : [];
      if (slugs.length === 0) {
        skip('no list: set AUTO_SEND_LIST or `lists:` in the front matter');
        continue;
      }
      for (const slug of slugs) {
        const key = `${file}:${digest.hash}:${slug}`;
        if (await this.repo.autoKeyExists(key)) continue;
        const list = await this.lists.find(slug);
        if (!list) {
          skip(`no list with slug "${slug}"`);
          continue;
        }
        const sendAt = digest.sendAt && digest.sendAt.getTime() > now.getTime() ? digest.sendAt : now;
        const issueId = await this.issues.createFromDigest(digest, list, {
          status: 'scheduled',
          sendAt,
          digestPath: file,
          autoKey: key,
        });
        if (issueId !== undefined) report.created.push({ issueId, file, list: slug });
      }
    }
    return report;
  }
}
