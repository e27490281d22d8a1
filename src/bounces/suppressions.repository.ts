import type { Kysely } from 'kysely';
import type { Database, SuppressionReason, SuppressionRow } from '../db/db.types.ts';

/** The global suppression list: addresses (canonical, so case-insensitive) that are never mailed. */
export class SuppressionsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  all(): Promise<SuppressionRow[]> {
    return this.db.selectFrom('suppressions').selectAll().orderBy('created_at').orderBy('email').execute();
  }

  /** The newest suppressions first, a page at a time (the console's list). */
  page(limit: number, offset: number): Promise<SuppressionRow[]> {
    return this.db
      .selectFrom('suppressions')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('email')
      .limit(limit)
      .offset(offset)
      .execute();
  }

  /** The latest bounce and complaint events, for the editor's view beside the list. */
  recentEvents(
    limit: number,
  ): Promise<
    { type: string; source: string; email: string | null; detail: string | null; occurred_at: Date }[]
  > {
    return this.db
      .selectFrom('events')
      .select(['type', 'source', 'email', 'detail', 'occurred_at'])
      .where('type', 'in', ['hard_bounce', 'soft_bounce', 'complaint'])
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  find(email: string): Promise<SuppressionRow | undefined> {
    return this.db.selectFrom('suppressions').selectAll().where('email', '=', email).executeTakeFirst();
  }

  /** Returns the row that is now in force: the new one, or the one that was already there. */
  async add(
    email: string,
    reason: SuppressionReason,
    note: string | null,
  ): Promise<{ row: SuppressionRow; created: boolean }> {
    const inserted = await this.db
      .insertInto('suppressions')
      .values({ email, reason, note })
      .onConflict((oc) => oc.column('email').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { row: inserted, created: true };
    const existing = await this.find(email);
    if (!existing) throw new Error(`suppression of ${email} vanished while adding it`);
    return { row: existing, created: false };
  }

  async remove(email: string): Promise<SuppressionRow | undefined> {
    return this.db.deleteFrom('suppressions').where('email', '=', email).returningAll().executeTakeFirst();
  }
}
