import type { Kysely } from 'kysely';
import { type Config, loadConfig } from '../config/config.loader.ts';
import { existsSync } from 'node:fs';
import { AppError } from '../core/errors.ts';
import { looseEntries, makePrivateDir, tightenTree } from '../core/private-files.ts';
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
  guardDataDir(config.DATA_DIR);
  const handle = openDatabase(config);
  try {
    if (options.migrate !== 'skip') await ensureMigrated(handle.db, handle.engine);
    // The embedded database makes its files world-writable (0666): owner-only once they exist.
    if (handle.engine === 'pglite') tightenTree(config.DATA_DIR);
    return await run({ config, db: handle.db, engine: handle.engine, health: handle.health });
  } finally {
    await handle.close().catch(() => {});
    if (handle.engine === 'pglite') tightenTree(config.DATA_DIR);
  }
}

/**
 * DATA_DIR must be owner-only (0700 folders, 0600 files). If something loosened it since (a copy,
 * a restore, a chmod), say so on stderr, naming the first such path, and put it right.
 */
function guardDataDir(dataDir: string): void {
  if (!existsSync(dataDir)) return; // made owner-only by whoever creates it
  const loose = looseEntries(dataDir);
  if (loose.length > 0) {
    process.stderr.write(
      `digestmail: warning: ${loose.length} file(s) or folder(s) in DATA_DIR were readable or writable by others (first: ${loose[0]}); made owner-only (0700 folders, 0600 files)\n`,
    );
  }
  makePrivateDir(dataDir);
  tightenTree(dataDir);
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
