import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pendingMigrations } from '../src/db/migrator.ts';
import { applySqlFunctions, changedSqlFiles, FUNCTIONS_DIR } from '../src/db/sql-functions.ts';
import { seedAudience } from './sender.helpers.ts';
import { describeEachEngine, truncateAll } from './helpers/test-db.ts';

describeEachEngine('SQL functions applied by the migrator', (current) => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dm-functions-'));
    await cp(FUNCTIONS_DIR, dir, { recursive: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await sql`drop function if exists digestmail_probe()`.execute(current().db);
    await sql`delete from sql_functions where file = '90_probe.sql'`.execute(current().db);
  });

  it('a migrated database has every file of src/db/functions applied and recorded, nothing pending', async () => {
    const files = (await readdir(FUNCTIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
    expect(files.length).toBeGreaterThan(0);
    const recorded = await sql<{ file: string }>`select file from sql_functions order by file`.execute(
      current().db,
    );
    expect(recorded.rows.map((r) => r.file)).toEqual(files);
    expect(await changedSqlFiles(current().db)).toEqual([]);
    expect(await pendingMigrations(current().db)).toEqual([]);
  });

  it('re-applies a file when its content changes, and only that file', async () => {
    const db = current().db;
    const probe = path.join(dir, '90_probe.sql');
    await writeFile(
      probe,
      'create or replace function digestmail_probe() returns int language sql as $$ select 1 $$',
    );
    expect(await changedSqlFiles(db, dir)).toEqual(['90_probe.sql']);
    expect(await applySqlFunctions(db, dir)).toEqual(['90_probe.sql']);
    expect((await sql<{ v: number }>`select digestmail_probe() as v`.execute(db)).rows[0]?.v).toBe(1);
    expect(await applySqlFunctions(db, dir)).toEqual([]);

    await writeFile(
      probe,
      'create or replace function digestmail_probe() returns int language sql as $$ select 2 $$',
    );
    expect(await changedSqlFiles(db, dir)).toEqual(['90_probe.sql']);
    expect(await applySqlFunctions(db, dir)).toEqual(['90_probe.sql']);
    expect((await sql<{ v: number }>`select digestmail_probe() as v`.execute(db)).rows[0]?.v).toBe(2);
  });

  it('a file that fails names itself and leaves the recorded state as it was', async () => {
    const db = current().db;
    await writeFile(path.join(dir, '95_broken.sql'), 'create or replace function nonsense(');
    await expect(applySqlFunctions(db, dir)).rejects.toThrow(/95_broken\.sql/);
    expect(await changedSqlFiles(db, dir)).toContain('95_broken.sql');
    await rm(path.join(dir, '95_broken.sql'));
  });

  it('who may receive mail: suppressed and blocklisted addresses are unmailable; list recipients are the confirmed rest', async () => {
    const db = current().db;
    await truncateAll(current());
    const audience = await seedAudience(db, 5);
    const unmailable = await sql<{ email: string; reason: string }>`
      select email, reason from digestmail_unmailable_addresses()`.execute(db);
    const byEmail = (a: { email: string }, b: { email: string }) => (a.email < b.email ? -1 : 1);
    expect(unmailable.rows.sort(byEmail)).toEqual(
      [
        ...audience.blocklisted.map((email) => ({ email, reason: 'blocklisted' })),
        ...audience.suppressed.map((email) => ({ email, reason: 'complaint' })),
      ].sort(byEmail),
    );
    const recipients = await sql<{ email: string }>`
      select email from digestmail_list_recipients() where list_id = ${audience.listId}`.execute(db);
    expect(recipients.rows.map((r) => r.email).sort()).toEqual([...audience.confirmed].sort());
  });
});
