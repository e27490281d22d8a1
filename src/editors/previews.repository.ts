import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/db.types.ts';

/** How long a console preview stays readable: long enough to look at, short enough to forget. */
const KEEP = sql`interval '1 hour'`;

/** The console's rendered previews (migration 231), each readable only by the editor who made it. */
export class PreviewsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async save(id: string, editorId: number, html: string): Promise<void> {
    await this.db.insertInto('console_previews').values({ id, editor_id: editorId, html }).execute();
    await this.db
      .deleteFrom('console_previews')
      .where('created_at', '<', sql<Date>`now() - ${KEEP}`)
      .execute();
  }

  async find(id: string, editorId: number): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('console_previews')
      .select('html')
      .where('id', '=', id)
      .where('editor_id', '=', editorId)
      .where('created_at', '>', sql<Date>`now() - ${KEEP}`)
      .executeTakeFirst();
    return row?.html;
  }
}
