import type { Kysely } from 'kysely';
import { AppError } from '../core/errors.ts';
import type { Database, SubscriptionStatus } from '../db/db.types.ts';
import { OutboxRepository } from './outbox.repository.ts';
import { ReaderRepository } from './reader.repository.ts';
import { readUnsubscribe, signPreferences } from '../core/reader-tokens.ts';
import type { TokenSigner } from '../core/tokens.ts';

export type UnsubscribeView =
  | { kind: 'test' }
  | { kind: 'gone' }
  | {
      kind: 'reader';
      email: string;
      listId: number;
      listName: string;
      status: SubscriptionStatus | undefined;
      preferencesToken: string;
    };

/**
 * Leaving, from a link in an issue or from the mail client's own button (RFC 8058). The token is the
 * whole authority: it is signed, bound to one subscriber and one list, and never expires. A token
 * from an editor's test mail (`t`) shows a notice and changes nothing.
 */
export class UnsubscribeService {
  private readonly readers: ReaderRepository;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly signer: TokenSigner,
  ) {
    this.readers = new ReaderRepository(db);
  }

  async view(token: string): Promise<UnsubscribeView> {
    const claims = readUnsubscribe(this.signer, token);
    if (claims.test) return { kind: 'test' };
    const reader = await this.readers.find(claims.subscriberId);
    const listName = await this.listName(claims.listId);
    if (!reader || listName === undefined) return { kind: 'gone' };
    return {
      kind: 'reader',
      email: reader.email,
      listId: claims.listId,
      listName,
      status: await this.readers.subscriptionStatus(reader.id, claims.listId),
      preferencesToken: signPreferences(this.signer, reader.id),
    };
  }

  /** RFC 8058: one statement, done before the response. Returns 'test' for a test mail's token. */
  async oneClick(token: string): Promise<'unsubscribed' | 'already' | 'test'> {
    const claims = readUnsubscribe(this.signer, token);
    if (claims.test) return 'test';
    return (await this.readers.unsubscribe(claims.subscriberId, claims.listId)) ? 'unsubscribed' : 'already';
  }

  /**
   * From the page: leave the token's list or every list; a goodbye mail (with the way back) is
   * queued in the same transaction. Returns the lists left by this call.
   */
  async leave(
    token: string,
    scope: 'list' | 'all',
    lang: string,
  ): Promise<{ test: boolean; left: number[] }> {
    const claims = readUnsubscribe(this.signer, token);
    if (claims.test) return { test: true, left: [] };
    const left = await this.db.transaction().execute(async (trx) => {
      const readers = new ReaderRepository(trx);
      const reader = await readers.find(claims.subscriberId);
      if (!reader) return [];
      const changed =
        scope === 'all'
          ? await readers.unsubscribeAll(reader.id)
          : (await readers.unsubscribe(reader.id, claims.listId))
            ? [claims.listId]
            : [];
      if (changed.length > 0) {
        await new OutboxRepository(trx).enqueueGoodbye(reader.email, reader.id, { lists: changed, lang });
      }
      return changed;
    });
    return { test: false, left };
  }

  /**
   * "Changed my mind": brings back lists this reader left (the token's list, or the lists the page
   * says were just left). Only subscriptions that exist and are unsubscribed come back.
   */
  async comeBack(token: string, listIds: number[]): Promise<{ test: boolean; back: number[] }> {
    const claims = readUnsubscribe(this.signer, token);
    if (claims.test) return { test: true, back: [] };
    const reader = await this.readers.find(claims.subscriberId);
    if (!reader) return { test: false, back: [] };
    if (reader.unmailable) {
      throw new AppError('subscriptions.suppressed', 'this address cannot be subscribed again from here', {
        status: 409,
      });
    }
    const wanted = [...new Set([claims.listId, ...listIds])].slice(0, 100);
    return { test: false, back: await this.readers.resubscribe(reader.id, wanted) };
  }

  async listNames(ids: number[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('lists')
      .select('name')
      .where('id', 'in', ids)
      .orderBy('name')
      .execute();
    return rows.map((r) => r.name);
  }

  private async listName(id: number): Promise<string | undefined> {
    return (await this.listNames([id]))[0];
  }
}
