import type { Kysely } from 'kysely';
import { AppError, invalid } from '../core/errors.ts';
import type { Database } from '../db/db.types.ts';
import { OutboxRepository } from './outbox.repository.ts';
import { type OptInOutcome, type Reader, type ReaderList, ReaderRepository } from './reader.repository.ts';
import { CONFIRM_MAIL_WINDOW_SECONDS } from './signup.service.ts';
import { readPreferences } from '../core/reader-tokens.ts';
import { cleanName } from '../core/person-name.text.ts';
import type { TokenSigner } from '../core/tokens.ts';

export interface PreferencesView {
  reader: Reader;
  lists: ReaderList[];
}

/** The page after a save, and what the save did to the lists ticked (see ReaderRepository.joinLists). */
export interface PreferencesSaved extends PreferencesView, OptInOutcome {
  /** A list was ticked that this address may not join (suppressed or blocklisted). */
  joinRefused: boolean;
}

export interface PreferencesChange {
  name: string | undefined;
  /** The lists ticked. */
  lists: number[];
  /** Topics ticked per list; none means everything the list sends. */
  topics: Map<number, string[]>;
  /** Whether the reader lets their clicks be counted; undefined when the page did not ask. */
  countClicks?: boolean;
}

/**
 * A reader's own settings, reached through a signed link: their name, the lists they receive and,
 * per list, the topics (digest categories) they want. Only lists and topics the page offered are
 * accepted.
 */
export class PreferencesService {
  private readonly readers: ReaderRepository;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly signer: TokenSigner,
  ) {
    this.readers = new ReaderRepository(db);
  }

  /** The link came from an editor's test send: there is no reader behind it. */
  isTestLink(token: string): boolean {
    return readPreferences(this.signer, token) === 0;
  }

  async view(token: string): Promise<PreferencesView> {
    const subscriberId = readPreferences(this.signer, token);
    const reader = await this.readers.find(subscriberId);
    if (!reader) throw readerGone();
    return { reader, lists: await this.readers.lists(subscriberId) };
  }

  /**
   * Applies the form. A list ticked follows its opt-in rules, as "Subscribe again" does (the link is
   * in every forwarded issue, so holding it proves nothing about the address): single opt-in joins at
   * once; double opt-in becomes pending and a confirmation mail is queued (`confirmQueued`; `pending`
   * names the lists now waiting for it). A list already confirmed or pending keeps its status and
   * takes the topics ticked; a list unticked is left. A suppressed or blocklisted address keeps the
   * lists it has but joins none (`joinRefused`). Returns the view after the change.
   */
  async save(token: string, change: PreferencesChange, lang: string): Promise<PreferencesSaved> {
    const subscriberId = readPreferences(this.signer, token);
    let joinRefused = false;
    const outcome = await this.db.transaction().execute(async (trx) => {
      const readers = new ReaderRepository(trx);
      const reader = await readers.find(subscriberId);
      if (!reader) throw readerGone();
      const offered = await readers.lists(subscriberId);
      const byId = new Map(offered.map((l) => [l.listId, l]));
      for (const id of change.lists) {
        if (!byId.has(id)) throw invalid('subscriptions.list_unknown', `list ${id} is not offered here`);
      }
      for (const [id, topics] of change.topics) {
        const list = byId.get(id);
        if (!list) throw invalid('subscriptions.list_unknown', `list ${id} is not offered here`);
        const unknown = topics.find((t) => !list.offeredTopics.includes(t));
        if (unknown !== undefined) {
          throw invalid('subscriptions.topic_unknown', `"${unknown}" is not a topic of ${list.name}`);
        }
      }
      await readers.setName(subscriberId, cleanName(change.name));
      if (change.countClicks !== undefined) await readers.setTrackClicks(subscriberId, change.countClicks);
      const canJoin = reader.unmailable === undefined;
      const joining: { listId: number; topics: string[] }[] = [];
      for (const list of offered) {
        const wanted = change.lists.includes(list.listId);
        const topics = [...new Set(change.topics.get(list.listId) ?? [])];
        if (wanted && (list.status === 'confirmed' || list.status === 'pending' || canJoin)) {
          joining.push({ listId: list.listId, topics });
        } else if (wanted) {
          joinRefused = true;
        } else if (list.status !== undefined && list.status !== 'unsubscribed') {
          await readers.unsubscribe(subscriberId, list.listId);
        }
      }
      return readers.joinLists(subscriberId, joining, lang, CONFIRM_MAIL_WINDOW_SECONDS);
    });
    return { ...(await this.view(token)), ...outcome, joinRefused };
  }

  /** "Unsubscribe from everything", with a goodbye mail queued in the same transaction. */
  async leaveAll(token: string, lang: string): Promise<number[]> {
    const subscriberId = readPreferences(this.signer, token);
    return this.db.transaction().execute(async (trx) => {
      const readers = new ReaderRepository(trx);
      const reader = await readers.find(subscriberId);
      if (!reader) throw readerGone();
      const left = await readers.unsubscribeAll(subscriberId);
      if (left.length > 0) {
        await new OutboxRepository(trx).enqueueGoodbye(reader.email, reader.id, { lists: left, lang });
      }
      return left;
    });
  }
}

function readerGone(): AppError {
  return new AppError('subscriptions.reader_gone', 'nothing is stored for this link any more', {
    status: 404,
  });
}
