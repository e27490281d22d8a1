import { type Kysely, sql } from 'kysely';

/**
 * VACUUM of small tables that are rewritten all the time (the counters' delta tables, folded every
 * second: each fold deletes every row and writes a few back). Until autovacuum comes by, a minute
 * or more later, every read of such a table scans the dead rows of tens of thousands of folded
 * deltas for a handful of live ones. Outside any transaction (VACUUM cannot run in one); a table
 * another vacuum holds is skipped rather than waited for, and the file is not truncated: that needs
 * a moment's exclusive lock, which would make a scrape reading the table wait.
 */
export async function vacuumSmallTables(db: Kysely<any>, tables: readonly string[]): Promise<void> {
  await sql`vacuum (skip_locked, truncate false) ${sql.join(tables.map((t) => sql.table(t)))}`.execute(db);
}
