import { type Kysely, sql } from 'kysely';

/** One round trip on the process's own pool: the cheapest statement that proves the database answers. */
export async function selectOne(db: Kysely<any>): Promise<void> {
  await sql`select 1`.execute(db);
}
