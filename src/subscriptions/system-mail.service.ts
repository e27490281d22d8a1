import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { OptinRepository, type PublicList } from './optin.repository.ts';
import { type OutboxMessage, OutboxRepository } from './outbox.repository.ts';
import { type Reader, ReaderRepository } from './reader.repository.ts';

export type { OutboxMessage, PublicList, Reader };

/** What composing a reader's system mail needs to know of the reader. */
export type MailReader = Pick<Reader, 'id' | 'name' | 'unmailable'>;

/** Who a claimed batch of mails is for: readers and lists by id (see SystemMailService.recipients). */
export interface Recipients {
  readers: Map<number, MailReader>;
  lists: Map<number, PublicList>;
}

/**
 * A confirmation mail written already leased to this process (SignupService with a hand-off), given
 * to its outbox sender with what composing it needs, as the signup's own statement saw it: the
 * sender sends it without claiming it or reading its reader back. Should the sender not get to it
 * while `handedAt` + half the lease is still ahead (a backlog, a stop), it leaves it: the lease
 * runs out and any sender claims it as it would any mail.
 */
export interface HandedOverMail {
  message: OutboxMessage;
  reader: MailReader;
  /** The lists the mail names. */
  lists: PublicList[];
  handedAt: number;
  leaseSeconds: number;
}

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
   * Who the claimed mails are for, as they are now (a mail may have been queued a while ago): the
   * readers, each with why the address may no longer be mailed, and the lists the mails name that
   * still exist. Two queries for a whole claimed batch, not two per mail.
   */
  async recipients(messages: OutboxMessage[]): Promise<Recipients> {
    const subscriberIds = [
      ...new Set(messages.flatMap((m) => (m.subscriberId === null ? [] : [m.subscriberId]))),
    ];
    const listIds = [...new Set(messages.flatMap((m) => m.payload.lists))];
    const [readers, lists] = await Promise.all([
      this.readers.findMany(subscriberIds),
      this.optin.listsById(listIds),
    ]);
    return { readers, lists: new Map(lists.map((l) => [l.id, l])) };
  }

  /** Records mails as sent, each with its Message-ID, in one statement. */
  markSentMany(sent: readonly { id: number; messageId: string }[]): Promise<void> {
    return this.outbox.markSentMany(sent);
  }

  markRetry(id: number, error: string, delayMs: number): Promise<void> {
    return this.outbox.markRetry(id, error, delayMs);
  }

  markFailed(id: number, error: string): Promise<void> {
    return this.outbox.markFailed(id, error);
  }
}
