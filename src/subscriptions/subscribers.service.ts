import { createReadStream, promises as fs } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { Kysely } from 'kysely';
import { AppError, invalid, notFound } from '../core/errors.ts';
import type { Database, SubscriptionStatus } from '../db/db.types.ts';
import { checkEmail } from '../core/email-address.ts';
import { cleanName } from '../core/person-name.text.ts';
import { ListsService } from './lists.service.ts';
import { type ImportOptions, type ImportReport, importSubscribers } from './subscribers.import.ts';
import {
  type SubscriberDetail,
  type SubscriberMatch,
  type SubscriberWithSubscription,
  SubscribersRepository,
} from './subscribers.repository.ts';

export type { SubscriberDetail, SubscriberMatch } from './subscribers.repository.ts';

const SUBSCRIPTION_STATUSES: readonly SubscriptionStatus[] = ['pending', 'confirmed', 'unsubscribed'];

/** The canonical form of an address a user typed, or an error that says what is wrong with it. */
export function requireEmail(input: string): string {
  const checked = checkEmail(input);
  if (!checked.ok)
    throw invalid(
      'subscribers.email_invalid',
      `"${input.replace(/[\r\n]/g, '\\n')}" is not a valid address: ${checked.reason}`,
    );
  return checked.email;
}

export function parseSubscriptionStatus(value: string, allowed = SUBSCRIPTION_STATUSES): SubscriptionStatus {
  if (!(allowed as readonly string[]).includes(value)) {
    throw invalid('subscribers.status_invalid', `status "${value}" is not one of ${allowed.join(', ')}`);
  }
  return value as SubscriptionStatus;
}

export class SubscribersService {
  private readonly repo: SubscribersRepository;
  private readonly lists: ListsService;

  constructor(db: Kysely<Database>) {
    this.repo = new SubscribersRepository(db);
    this.lists = new ListsService(db);
  }

  /** Adds one address to a list, as the operator says; a suppressed or blocklisted address is refused. */
  async add(input: {
    email: string;
    listSlug: string;
    name?: string;
    status?: SubscriptionStatus;
    source?: string;
  }): Promise<SubscriberWithSubscription> {
    const email = requireEmail(input.email);
    const list = await this.lists.require(input.listSlug);
    const unmailable = await this.repo.unmailableReason(email);
    if (unmailable === 'blocklisted') {
      throw new AppError('subscribers.blocklisted', `${email} is blocklisted`, { status: 409 });
    }
    if (unmailable) {
      throw new AppError(
        'subscribers.suppressed',
        `${email} is on the suppression list (${unmailable}); it is never mailed. Remove it there first if that was a mistake.`,
        { status: 409 },
      );
    }
    return this.repo.addToList({
      email,
      name: cleanName(input.name),
      listId: list.id,
      status: input.status ?? 'confirmed',
      source: input.source ?? 'cli',
    });
  }

  async import(
    path: string,
    listSlug: string,
    status: 'pending' | 'confirmed',
    options: ImportOptions = {},
  ): Promise<ImportReport> {
    const list = await this.lists.require(listSlug);
    await assertReadableFile(path);
    return importSubscribers(this.repo, createReadStream(path), { listId: list.id, status }, options);
  }

  /** The console's search: an exact address or the start of one (lower case, as stored). */
  search(query: string, limit = 50): Promise<SubscriberMatch[]> {
    const q = query.trim().toLowerCase();
    if (q === '') return Promise.resolve([]);
    return this.repo.search(q.slice(0, 254), limit);
  }

  detail(id: number): Promise<SubscriberDetail | undefined> {
    return this.repo.detail(id, 20);
  }

  /** An import from a stream (the console's upload) with the same rules and report as a file. */
  async importStream(
    input: Readable,
    listSlug: string,
    status: 'pending' | 'confirmed',
    options: ImportOptions = {},
  ): Promise<ImportReport> {
    const list = await this.lists.require(listSlug);
    return importSubscribers(this.repo, input, { listId: list.id, status }, options);
  }

  /** Writes the list as CSV (email, name, status, subscribed_at) to `out`, page by page. */
  async export(listSlug: string, status: SubscriptionStatus | undefined, out: Writable): Promise<number> {
    const list = await this.lists.require(listSlug);
    let count = 0;
    let afterId = 0;
    await write(out, 'email,name,status,subscribed_at\n');
    for (;;) {
      const page = await this.repo.exportPage(list.id, status, afterId, 10_000);
      if (page.length === 0) break;
      let chunk = '';
      for (const row of page) {
        chunk += `${csvField(row.email)},${csvField(row.name ?? '')},${row.status},${row.subscribedAt.toISOString()}\n`;
      }
      await write(out, chunk);
      count += page.length;
      afterId = page[page.length - 1]!.id;
    }
    return count;
  }

  /** Erases a person and keeps their address suppressed. Returns whether anything was stored. */
  async remove(emailInput: string): Promise<boolean> {
    return this.repo.erase(requireEmail(emailInput));
  }
}

async function assertReadableFile(path: string): Promise<void> {
  try {
    const stat = await fs.stat(path);
    if (!stat.isFile()) throw invalid('import.not_a_file', `${path} is not a file`);
  } catch (error) {
    if (error instanceof AppError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound('import.file_not_found', `no such file: ${path}`);
    throw invalid('import.file_unreadable', `cannot read ${path}: ${(error as Error).message}`);
  }
}

/**
 * RFC 4180 quoting; a leading = + - @ gets a quote mark so a spreadsheet opening the export does not
 * run a name as a formula (CSV injection).
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function write(out: Writable, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = out.write(chunk, (error) => (error ? reject(error) : undefined));
    if (ok) resolve();
    else out.once('drain', resolve);
  });
}
