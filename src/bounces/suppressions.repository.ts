import type { Kysely } from 'kysely';
import type { Database, SuppressionReason, SuppressionRow } from '../db/db.types.ts';

/** The global suppression list: addresses (canonical, so case-insensitive) that are never mailed. */
export class SuppressionsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  all(): Promise<SuppressionRow[]> {
    return this.db.selectFrom('suppressions').selectAll().orderBy('created_at').orderBy('email').execute();
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
