import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { OutboxRepository } from './outbox.repository.ts';
import { ReaderRepository } from './reader.repository.ts';

/**
 * Leaving from the unsubscribe page, as one transaction: the subscriptions left and the goodbye mail
 * that offers the way back are written together or not at all. The goodbye rule itself (at most one
 * a day per address) stays with OutboxRepository.enqueueGoodbye, its one owner.
 */
export class UnsubscribeRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Leaves the list, or every list (`listId` undefined); returns the lists left by this call. */
  leave(subscriberId: number, listId: number | undefined, lang: string): Promise<number[]> {
    return this.db.transaction().execute(async (trx) => {
      const readers = new ReaderRepository(trx);
      const reader = await readers.find(subscriberId);
      if (!reader) return [];
      const changed =
        listId === undefined
          ? await readers.unsubscribeAll(reader.id)
          : (await readers.unsubscribe(reader.id, listId))
            ? [listId]
            : [];
      if (changed.length > 0) {
        await new OutboxRepository(trx).enqueueGoodbye(reader.email, reader.id, { lists: changed, lang });
      }
      return changed;
    });
  }
}
