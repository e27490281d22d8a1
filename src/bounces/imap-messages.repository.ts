import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/db.types.ts';

/** One IMAP message, named for good: mailbox, UIDVALIDITY, UID. */
export interface ImapMessageKey {
  mailbox: string;
  uidValidity: number;
  uid: number;
}

/**
 * `mine`: this watcher may ingest the message now. `done`: it was ingested before, by this watcher or
 * long enough ago that whoever did has had time to move it (move it, nothing more). `busy`: another
 * watcher is ingesting or moving it right now (leave it to that one: two MOVEs of one message at
 * once can leave two copies in the folder).
 */
export type ImapClaim = 'mine' | 'done' | 'busy';

/** What the IMAP watcher remembers of the messages it took (table imap_messages). */
export class ImapMessagesRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Takes a message for `owner`, atomically: a new message, one this owner claimed before (its own
   * ingest failed and is being retried), or one whose claim is older than `staleSeconds` (the
   * process that claimed it died) becomes `mine`.
   */
  async claim(key: ImapMessageKey, owner: string, staleSeconds: number): Promise<ImapClaim> {
    const taken = await this.db
      .insertInto('imap_messages')
      .values({
        mailbox: key.mailbox,
        uid_validity: key.uidValidity,
        uid: key.uid,
        state: 'claimed',
        claimed_by: owner,
      })
      .onConflict((oc) =>
        oc
          .columns(['mailbox', 'uid_validity', 'uid'])
          .doUpdateSet({ claimed_by: owner, claimed_at: sql`now()` })
          .where('imap_messages.state', '=', 'claimed')
          .where((eb) =>
            eb.or([
              eb('imap_messages.claimed_by', '=', owner),
              eb('imap_messages.claimed_at', '<', sql<Date>`now() - make_interval(secs => ${staleSeconds})`),
            ]),
          ),
      )
      .returning('state')
      .executeTakeFirst();
    if (taken) return 'mine';
    const row = await this.db
      .selectFrom('imap_messages')
      .select((eb) => [
        'state',
        eb
          .or([
            eb('claimed_by', '=', owner),
            eb('done_at', '<', sql<Date>`now() - make_interval(secs => ${staleSeconds})`),
          ])
          .as('settled'),
      ])
      .where('mailbox', '=', key.mailbox)
      .where('uid_validity', '=', key.uidValidity)
      .where('uid', '=', key.uid)
      .executeTakeFirst();
    return row?.state === 'done' && row.settled ? 'done' : 'busy';
  }

  /** Marks a claimed message ingested, with the outcome in a word and a line. */
  async finish(key: ImapMessageKey, result: string, detail: string): Promise<void> {
    await this.db
      .updateTable('imap_messages')
      .set({ state: 'done', result, detail, done_at: sql`now()` })
      .where('mailbox', '=', key.mailbox)
      .where('uid_validity', '=', key.uidValidity)
      .where('uid', '=', key.uid)
      .execute();
  }

  /** Gives a claim back (the message went away, or its ingest failed): the next look takes it again. */
  async release(key: ImapMessageKey, owner: string): Promise<void> {
    await this.db
      .deleteFrom('imap_messages')
      .where('mailbox', '=', key.mailbox)
      .where('uid_validity', '=', key.uidValidity)
      .where('uid', '=', key.uid)
      .where('state', '=', 'claimed')
      .where('claimed_by', '=', owner)
      .execute();
  }

  /** Drops what was remembered of the mailbox's ingested messages more than `days` ago. */
  async forgetDoneBefore(mailbox: string, days: number): Promise<void> {
    await this.db
      .deleteFrom('imap_messages')
      .where('mailbox', '=', mailbox)
      .where('state', '=', 'done')
      .where('done_at', '<', sql<Date>`now() - make_interval(days => ${days})`)
      .execute();
  }
}
