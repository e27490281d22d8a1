import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { migrateAllDown, migrateDown, migrateToLatest, pendingMigrations } from '../src/db/migrator.ts';
import { describeEachEngine } from './helpers/test-db.ts';

/** The foundation's tables; later migrations may add more, and down/up must restore whatever there is. */
const FOUNDATION_TABLES = [
  'deliveries',
  'events',
  'issues',
  'lists',
  'outbox',
  'subscribers',
  'subscriptions',
  'suppressions',
];

describeEachEngine('migrations', (current) => {
  async function tables(): Promise<string[]> {
    const result = await sql<{ name: string }>`
      select table_name as name from information_schema.tables
      where table_schema = 'public' and table_name not like 'kysely_%' order by 1`.execute(current().db);
    return result.rows.map((r) => r.name);
  }

  it('a migrated database has every table of the product and nothing pending', async () => {
    expect(await tables()).toEqual(expect.arrayContaining(FOUNDATION_TABLES));
    expect(await pendingMigrations(current().db)).toEqual([]);
  });

  it('all down leaves no table, all up again restores them', async () => {
    const migrated = await tables();
    await migrateAllDown(current().db);
    expect(await tables()).toEqual([]);
    const again = await migrateToLatest(current().db);
    expect(again.applied.length).toBeGreaterThan(0);
    expect(await tables()).toEqual(migrated);
  });

  it('--down undoes only the most recent migration', async () => {
    const before = await pendingMigrations(current().db);
    const outcome = await migrateDown(current().db);
    expect(outcome.applied).toHaveLength(1);
    // A migration that replaces database functions also makes their files pending (to apply again).
    const pending = await pendingMigrations(current().db);
    expect(pending.filter((name) => !name.startsWith('functions/'))).toEqual([...before, ...outcome.applied]);
    await migrateToLatest(current().db);
  });
});
