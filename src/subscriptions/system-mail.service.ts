import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { OutboxRepository } from './outbox.repository.ts';

/**
 * System mail that is not part of a reader's signup (which queues its own mail in the signup's
 * transaction): today the console's sign-in link. Queued in the outbox like every system mail, so
 * the request that asks for it never waits on SMTP and answers in the same time for any address.
 */
export class SystemMailService {
  private readonly outbox: OutboxRepository;

  constructor(db: Kysely<Database>) {
    this.outbox = new OutboxRepository(db);
  }

  async queueSignInLink(to: string, url: string, lang: string): Promise<void> {
    await this.outbox.enqueue('sign_in', to, null, { lists: [], lang, url });
  }
}
