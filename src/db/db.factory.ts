import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../config/config.loader.ts';
import type { Database } from './db.types.ts';
import { PGliteDialect } from './pglite.dialect.ts';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** int8 (ids, count(*)) as numbers: digestmail never holds 2^53 of anything. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export type DatabaseEngine = 'postgres' | 'pglite';

export interface DatabaseHandle {
  db: Kysely<Database>;
  engine: DatabaseEngine;
  close(): Promise<void>;
}

/**
 * PostgreSQL when DATABASE_URL is set; otherwise the embedded PostgreSQL kept in DATA_DIR/pgdata,
 * so a first run needs no server at all. Both speak the same SQL and run the same migrations.
 */
export function openDatabase(
  config: Pick<Config, 'DATABASE_URL' | 'DATA_DIR' | 'DATABASE_POOL_SIZE'>,
): DatabaseHandle {
  if (config.DATABASE_URL) return openPostgres(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  mkdirSync(config.DATA_DIR, { recursive: true, mode: 0o700 });
  return openPGlite(join(config.DATA_DIR, 'pgdata'));
}

export function openPostgres(connectionString: string, max = 10): DatabaseHandle {
  const pool = new pg.Pool({ connectionString, max, types: pgTypes });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, engine: 'postgres', close: () => db.destroy() };
}

/** dataDir undefined: an in-memory database, gone when closed (used by tests). */
export function openPGlite(dataDir?: string): DatabaseHandle {
  const create = async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    return new PGlite(dataDir, {
      parsers: { [INT8_OID]: (v: string) => Number(v), [NUMERIC_OID]: (v: string) => Number(v) },
    });
  };
  const db = new Kysely<Database>({ dialect: new PGliteDialect(create) });
  return { db, engine: 'pglite', close: () => db.destroy() };
}
