import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import { PACKAGE_ROOT } from '../core/package-root.ts';

/**
 * The SQL files of the database's functions, read from the package folder (not relative to this
 * module), so tsx from src/ and the build in dist/ both find them in src/db/functions/ as they are:
 * the build copies nothing, but a published package must include that folder.
 */
export const FUNCTIONS_DIR = path.join(PACKAGE_ROOT, 'src', 'db', 'functions');

export interface SqlFile {
  file: string;
  hash: string;
  text: string;
}

/** Every `*.sql` file of the folder, in name order (a number prefix orders files that use others). */
export async function readSqlFiles(dir = FUNCTIONS_DIR): Promise<SqlFile[]> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await fs.readFile(path.join(dir, file), 'utf8');
      return { file, text, hash: createHash('sha256').update(text).digest('hex') };
    }),
  );
}

async function recordedHashes(db: Kysely<any>): Promise<Map<string, string> | undefined> {
  const exists = await sql<{ t: string | null }>`select to_regclass('sql_functions')::text as t`.execute(db);
  if (!exists.rows[0]?.t) return undefined;
  const rows = await sql<{ file: string; hash: string }>`select file, hash from sql_functions`.execute(db);
  return new Map(rows.rows.map((r) => [r.file, r.hash]));
}

/**
 * The files whose content differs from what was last applied (all of them on a database that never
 * had them); empty when the record table does not exist yet (its migration is then pending).
 */
export async function changedSqlFiles(db: Kysely<any>, dir = FUNCTIONS_DIR): Promise<string[]> {
  const recorded = await recordedHashes(db);
  if (!recorded) return [];
  return (await readSqlFiles(dir)).filter((f) => recorded.get(f.file) !== f.hash).map((f) => f.file);
}

/**
 * The repeatable step after the migrations: each file in src/db/functions/ holds one
 * `create or replace` statement and is run again whenever its content changed, then recorded with
 * its hash in `sql_functions`. Migrations stay frozen; a function's body is edited in its file like
 * any code. Runs in one transaction under an advisory lock, so processes starting together apply a
 * change once. Function bodies are checked when called, not when created, so files may use functions
 * of later files. Returns the files applied.
 */
export async function applySqlFunctions(db: Kysely<any>, dir = FUNCTIONS_DIR): Promise<string[]> {
  const files = await readSqlFiles(dir);
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${0x64_6d_73_10})`.execute(trx);
    const recorded = await recordedHashes(trx);
    if (!recorded) return [];
    await sql`set local check_function_bodies = off`.execute(trx);
    const applied: string[] = [];
    for (const f of files) {
      if (recorded.get(f.file) === f.hash) continue;
      try {
        await sql.raw(f.text).execute(trx);
      } catch (error) {
        throw new Error(`src/db/functions/${f.file}: ${(error as Error).message}`, { cause: error });
      }
      await sql`
        insert into sql_functions (file, hash) values (${f.file}, ${f.hash})
        on conflict (file) do update set hash = excluded.hash, applied_at = now()
      `.execute(trx);
      applied.push(f.file);
    }
    return applied;
  });
}
