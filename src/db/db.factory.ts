import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../config/config.loader.ts';
import { OutageGate } from '../core/outage.gate.ts';
import { databaseHealth, isDatabaseOutage, registerDatabaseHealth } from './db.health.ts';
import type { Database } from './db.types.ts';
import { PGliteDialect } from './pglite.dialect.ts';
import { lockEmbeddedDatabase } from './pglite.lock.ts';

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
  /** Closed while the database cannot be reached (never, for the embedded one); see db.health. */
  health: OutageGate;
  close(): Promise<void>;
}

/** How long to wait for a connection before calling the database unreachable. */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * PostgreSQL when DATABASE_URL is set; otherwise the embedded PostgreSQL kept in DATA_DIR/pgdata,
 * so a first run needs no server at all. Both speak the same SQL and run the same migrations.
 */
export function openDatabase(
  config: Pick<Config, 'DATABASE_URL' | 'DATA_DIR' | 'DATABASE_POOL_SIZE'>,
): DatabaseHandle {
  if (config.DATABASE_URL) return openPostgres(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  mkdirSync(config.DATA_DIR, { recursive: true, mode: 0o700 });
  const dataDir = join(config.DATA_DIR, 'pgdata');
  // Never two writers: a second process stops here with one line naming the first.
  const lock = lockEmbeddedDatabase(`${dataDir}.lock`, dataDir);
  let handle: DatabaseHandle;
  try {
    handle = openPGlite(dataDir, (error) => {
      // Nothing this process does next can be written: stop with one line rather than fail every
      // request and send in turn. What was committed before is on disk; free space and start again.
      lock.release();
      process.stderr.write(
        `digestmail: the disk holding the embedded database (${dataDir}) is full: ${firstLine(error.message)}; free some space and start digestmail again\n`,
      );
      process.exit(1);
    });
  } catch (error) {
    lock.release();
    throw error;
  }
  return {
    ...handle,
    close: async () => {
      try {
        await handle.close();
      } finally {
        lock.release();
      }
    },
  };
}

export function openPostgres(connectionString: string, max = 10): DatabaseHandle {
  const health = new OutageGate({
    name: 'database',
    isOutage: isDatabaseOutage,
    // A fresh connection, not one from the pool: an idle pooled connection may be a dead one.
    probe: async () => {
      const client = new pg.Client({ connectionString, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query('select 1');
      } finally {
        await client.end().catch(() => {});
      }
    },
  });
  const report = (error: unknown) => {
    health.report(error);
  };
  /**
   * A pg Client that tells the gate when its server goes away. The listener matters beyond the
   * gate: a client checked out of the pool (inside a transaction, between two statements) has no
   * 'error' listener of the pool's, and an 'error' event without a listener ends the process.
   */
  class WatchedClient extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super(config);
      this.on('error', report);
    }
    // pg's query has a dozen overloads; this passes them all through unchanged.
    override query(...args: any[]): any {
      const result = (super.query as (...a: any[]) => any)(...args);
      if (result && typeof result.then === 'function') result.then(undefined, report);
      return result;
    }
  }
  const pool = new pg.Pool({
    connectionString,
    max,
    types: pgTypes,
    Client: WatchedClient,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // A server that vanished without closing the socket (a failover, a cut cable) is noticed.
    keepAlive: true,
  });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on('error', report);
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({
      pool: {
        connect: () =>
          pool.connect().catch((error: unknown) => {
            report(error);
            throw error;
          }),
        end: () => pool.end(),
      },
    }),
  });
  registerDatabaseHealth(db, health);
  return {
    db,
    engine: 'postgres',
    health,
    close: async () => {
      await health.close();
      await db.destroy();
    },
  };
}

/** dataDir undefined: an in-memory database, gone when closed (used by tests). */
export function openPGlite(dataDir?: string, onDiskFull?: (error: Error) => void): DatabaseHandle {
  const create = async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    return new PGlite(dataDir, {
      parsers: { [INT8_OID]: (v: string) => Number(v), [NUMERIC_OID]: (v: string) => Number(v) },
    });
  };
  const db = new Kysely<Database>({ dialect: new PGliteDialect(create, onDiskFull) });
  return { db, engine: 'pglite', health: databaseHealth(db), close: () => db.destroy() };
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 300);
}
