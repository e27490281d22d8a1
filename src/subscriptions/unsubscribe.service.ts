import type { Kysely } from 'kysely';
import { CallBatcher } from '../core/call.batcher.ts';
import { AppError } from '../core/errors.ts';
import type { Database, SubscriptionStatus } from '../db/db.types.ts';
import { type ComeBackOutcome, ReaderRepository } from './reader.repository.ts';
import { CONFIRM_MAIL_WINDOW_SECONDS } from './signup.service.ts';
import { UnsubscribeRepository } from './unsubscribe.repository.ts';
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

export type { ComeBackOutcome };

/** The most one-click unsubscribes written by one statement. */
const ONE_CLICK_BATCH = 200;
/** Batches of one-clicks on their way to the database at once. */
const ONE_CLICK_BATCHES_IN_FLIGHT = 2;

/**
 * Leaving, from a link in an issue or from the mail client's own button (RFC 8058). The token is the
 * whole authority: it is signed, bound to one subscriber and one list, and never expires. A token
 * from an editor's test mail (`t`) shows a notice and changes nothing. The queries live in the
 * repositories; this service reads the token and decides.
 */
export class UnsubscribeService {
  private readonly readers: ReaderRepository;
  private readonly leaving: UnsubscribeRepository;
  /**
   * One-click unsubscribes go to the database in batches (group commit, see call.batcher.ts): the
   * requests that arrive while one batch is on its way are written together by the next, each still
   * answered only once its row is written. Mail clients send these POSTs in waves, right after an
   * issue goes out.
   */
  private readonly oneClicks: CallBatcher<{ subscriberId: number; listId: number }, boolean>;

  constructor(
    db: Kysely<Database>,
    private readonly signer: TokenSigner,
  ) {
    this.readers = new ReaderRepository(db);
    this.leaving = new UnsubscribeRepository(db);
    this.oneClicks = new CallBatcher((pairs) => this.readers.unsubscribeMany(pairs), {
      maxBatch: ONE_CLICK_BATCH,
      concurrency: ONE_CLICK_BATCHES_IN_FLIGHT,
    });
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

  /**
   * RFC 8058: written before the response (in a batch with the one-clicks that arrive meanwhile).
   * Returns 'test' for a test mail's token.
   */
  async oneClick(token: string): Promise<'unsubscribed' | 'already' | 'test'> {
    const claims = readUnsubscribe(this.signer, token);
    if (claims.test) return 'test';
    const left = await this.oneClicks.call({ subscriberId: claims.subscriberId, listId: claims.listId });
    return left ? 'unsubscribed' : 'already';
  }

  /**
   * From the page: leave the token's list or every list; a goodbye mail (with the way back) is
   * queued in the same transaction, at most one a day per address. Returns the lists left by this call.
   */
  async leave(
    token: string,
    scope: 'list' | 'all',
    lang: string,
  ): Promise<{ test: boolean; left: number[] }> {
    const claims = readUnsubscribe(this.signer, token);
    if (claims.test) return { test: true, left: [] };
    const left = await this.leaving.leave(
      claims.subscriberId,
      scope === 'all' ? undefined : claims.listId,
      lang,
    );
    return { test: false, left };
  }

  /**
   * "Changed my mind": brings back lists this reader left (the token's list, or the lists the page
   * says were just left), by each list's opt-in rules: a single-opt-in list at once, a double-opt-in
   * list only through the confirmation mail queued here (the same rule as the signup form, since
   * whoever holds a forwarded issue holds this link). Only subscriptions that exist, are
   * unsubscribed and were confirmed once come back.
   */
  async comeBack(
    token: string,
    listIds: number[],
    lang: string,
  ): Promise<{ test: boolean } & ComeBackOutcome> {
    const claims = readUnsubscribe(this.signer, token);
    const none = { confirmed: [], pending: [], confirmQueued: false };
    if (claims.test) return { test: true, ...none };
    const reader = await this.readers.find(claims.subscriberId);
    if (!reader) return { test: false, ...none };
    if (reader.unmailable) {
      throw new AppError('subscriptions.suppressed', 'this address cannot be subscribed again from here', {
        status: 409,
      });
    }
    const wanted = [...new Set([claims.listId, ...listIds])].slice(0, 100);
    const outcome = await this.readers.resubscribe(reader.id, wanted, lang, CONFIRM_MAIL_WINDOW_SECONDS);
    return { test: false, ...outcome };
  }

  listNames(ids: number[]): Promise<string[]> {
    return this.readers.listNames(ids);
  }

  private async listName(id: number): Promise<string | undefined> {
    return (await this.listNames([id]))[0];
  }
}
