import type { Kysely } from 'kysely';
import { type Config, loadConfig } from '../config/config.loader.ts';
import { AppError } from '../core/errors.ts';
import type { OutageGate } from '../core/outage.gate.ts';
import { type DatabaseEngine, openDatabase } from '../db/db.factory.ts';
import type { Database } from '../db/db.types.ts';
import { migrateToLatest, pendingMigrations } from '../db/migrator.ts';

export interface CliContext {
  config: Config;
  db: Kysely<Database>;
  engine: DatabaseEngine;
  /** Closed while the database cannot be reached; long-running commands (serve, worker) log its two events. */
  health: OutageGate;
}

/**
 * Opens config and database for one command and always closes the database afterwards, so a command
 * never leaves the process hanging on an open pool. The embedded database migrates itself (it is the
 * zero-setup path); a PostgreSQL server is migrated only by `digestmail migrate`, which its operator
 * runs on purpose, and other commands say so when it is needed.
 */
export async function withContext<T>(
  run: (ctx: CliContext) => Promise<T>,
  options: { migrate?: 'check' | 'skip' } = {},
): Promise<T> {
  const config = loadConfig();
  const handle = openDatabase(config);
  try {
    if (options.migrate !== 'skip') await ensureMigrated(handle.db, handle.engine);
    return await run({ config, db: handle.db, engine: handle.engine, health: handle.health });
  } finally {
    await handle.close().catch(() => {});
  }
}

async function ensureMigrated(db: Kysely<Database>, engine: DatabaseEngine): Promise<void> {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return;
  if (engine === 'pglite') {
    await migrateToLatest(db);
    return;
  }
  throw new AppError(
    'db.not_migrated',
    `the database has ${pending.length} migration(s) not applied yet: run "digestmail migrate" first`,
    { exitCode: 2, status: 503 },
  );
}
