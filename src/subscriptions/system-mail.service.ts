import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { OptinRepository, type PublicList } from './optin.repository.ts';
import { type OutboxMessage, OutboxRepository } from './outbox.repository.ts';
import { type Reader, ReaderRepository } from './reader.repository.ts';

export type { OutboxMessage, PublicList, Reader };

/**
 * The outbox of system mail, seen from both ends: what queues mail that is not part of a reader's
 * signup (which queues its own in the signup's transaction; today the console's sign-in link), and
 * what the sender in delivery/ (outbox.sender.ts) claims, addresses and settles. The outbox table
 * and the readers it names belong to this module; the sender reaches them only through here.
 *
 * Queued in the outbox like every system mail, so the request that asks for it never waits on SMTP
 * and answers in the same time for any address.
 */
export class SystemMailService {
  private readonly outbox: OutboxRepository;
  private readonly optin: OptinRepository;
  private readonly readers: ReaderRepository;

  constructor(db: Kysely<Database>) {
    this.outbox = new OutboxRepository(db);
    this.optin = new OptinRepository(db);
    this.readers = new ReaderRepository(db);
  }

  async queueSignInLink(to: string, url: string, lang: string): Promise<void> {
    await this.outbox.enqueue('sign_in', to, null, { lists: [], lang, url });
  }

  /** Up to `limit` due messages, each leased for `leaseSeconds` to the caller (SKIP LOCKED). */
  claim(limit: number, leaseSeconds: number): Promise<OutboxMessage[]> {
    return this.outbox.claim(limit, leaseSeconds);
  }

  /**
   * Who a queued mail is for, as they are now (it may have been queued a while ago): the reader,
   * with why the address may no longer be mailed, and the lists it names that still exist.
   */
  async recipient(
    subscriberId: number,
    listIds: number[],
  ): Promise<{ reader: Reader | undefined; lists: PublicList[] }> {
    const [reader, lists] = await Promise.all([
      this.readers.find(subscriberId),
      this.optin.listsById(listIds),
    ]);
    return { reader, lists };
  }

  markSent(id: number, messageId: string): Promise<void> {
    return this.outbox.markSent(id, messageId);
  }

  markRetry(id: number, error: string, delayMs: number): Promise<void> {
    return this.outbox.markRetry(id, error, delayMs);
  }

  markFailed(id: number, error: string): Promise<void> {
    return this.outbox.markFailed(id, error);
  }
}
