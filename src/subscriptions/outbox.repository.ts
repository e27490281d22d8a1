import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, OutboxKind } from '../db/db.types.ts';

/** What a transactional mail needs besides its recipient: the lists it is about and its language. */
export interface OutboxPayload {
  lists: number[];
  lang: string;
  /** sign_in: the one-time console link (an editor's mail, not a reader's). */
  url?: string;
}

export interface OutboxMessage {
  id: number;
  kind: OutboxKind;
  toEmail: string;
  subscriberId: number | null;
  payload: OutboxPayload;
  /** Attempts including the current one. */
  attempts: number;
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * The transactional outbox: a mail is written here in the same transaction as the change that causes
 * it, and the outbox sender claims, sends and settles it. Claims are leases, so a sender that dies
 * mid-send loses nothing: its rows become claimable again when the lease runs out.
 */
export class OutboxRepository {
  constructor(private readonly db: Db) {}

  async enqueue(
    kind: OutboxKind,
    toEmail: string,
    subscriberId: number | null,
    payload: OutboxPayload,
  ): Promise<void> {
    await this.db
      .insertInto('outbox')
      .values({ kind, to_email: toEmail, subscriber_id: subscriberId, payload: JSON.stringify(payload) })
      .execute();
  }

  /**
   * Queues a goodbye mail unless this address was sent one in the last day, in one statement.
   * Anyone holding a forwarded unsubscribe link can alternate "Unsubscribe" and "Subscribe again";
   * without this each round would mail the reader (issue 11). Returns whether one was queued.
   */
  async enqueueGoodbye(toEmail: string, subscriberId: number, payload: OutboxPayload): Promise<boolean> {
    const result = await sql`
      insert into outbox (kind, to_email, subscriber_id, payload)
      select 'goodbye', ${toEmail}, ${subscriberId}, ${JSON.stringify(payload)}::jsonb
       where not exists (
         select 1 from outbox
          where to_email = ${toEmail} and kind = 'goodbye' and created_at > now() - interval '1 day'
       )
    `.execute(this.db);
    return Number(result.numAffectedRows ?? 0) > 0;
  }

  /**
   * Takes up to `limit` due system mails (confirm, welcome, goodbye, sign_in) for `leaseSeconds`. SKIP LOCKED lets any number of senders
   * claim side by side without waiting on each other or taking the same row.
   */
  async claim(limit: number, leaseSeconds: number): Promise<OutboxMessage[]> {
    const result = await sql<{
      id: number;
      kind: OutboxKind;
      to_email: string;
      subscriber_id: number | null;
      payload: Partial<OutboxPayload>;
      attempts: number;
    }>`
      update outbox set status = 'sending', attempts = attempts + 1,
        lease_until = now() + make_interval(secs => ${leaseSeconds}::int)
      where id in (
        select id from outbox
        where status in ('pending', 'sending') and next_attempt_at <= now()
          and kind in ('confirm', 'welcome', 'goodbye', 'sign_in')
          and (status = 'pending' or lease_until < now())
        order by next_attempt_at, id
        limit ${limit}
        for update skip locked
      )
      returning id, kind, to_email, subscriber_id, payload, attempts
    `.execute(this.db);
    return result.rows.map((row) => ({
      id: row.id,
      kind: row.kind,
      toEmail: row.to_email,
      subscriberId: row.subscriber_id,
      payload: { lists: row.payload.lists ?? [], lang: row.payload.lang ?? 'en' },
      attempts: row.attempts,
    }));
  }

  /** Records mails as sent, each with its Message-ID, in one statement. */
  async markSentMany(sent: readonly { id: number; messageId: string }[]): Promise<void> {
    await sql`
      update outbox o
         set status = 'sent', sent_at = now(), message_id = s.message_id, lease_until = null, last_error = null
        from unnest(${sent.map((m) => m.id)}::bigint[], ${sent.map((m) => m.messageId)}::text[]) as s(id, message_id)
       where o.id = s.id
    `.execute(this.db);
  }

  async markRetry(id: number, error: string, delayMs: number): Promise<void> {
    await this.db
      .updateTable('outbox')
      .set({
        status: 'pending',
        lease_until: null,
        last_error: error.slice(0, 1000),
        next_attempt_at: sql`now() + make_interval(secs => ${delayMs / 1000})`,
      })
      .where('id', '=', id)
      .execute();
  }

  async markFailed(id: number, error: string): Promise<void> {
    await this.db
      .updateTable('outbox')
      .set({ status: 'failed', lease_until: null, last_error: error.slice(0, 1000) })
      .where('id', '=', id)
      .execute();
  }

  /** When the next message falls due (to sleep until then), or undefined when nothing waits. */
  async nextDue(): Promise<Date | undefined> {
    const row = await this.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.min('next_attempt_at').as('due'))
      .where('status', 'in', ['pending', 'sending'])
      .executeTakeFirst();
    return row?.due ? new Date(row.due) : undefined;
  }
}
