import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Kysely, type Migration, type MigrationProvider, type MigrationResult, Migrator } from 'kysely';
import { AppError } from '../core/errors.ts';
import { PACKAGE_ROOT, RUNNING_FROM_SOURCE } from '../core/package-root.ts';
import { applySqlFunctions, changedSqlFiles } from './sql-functions.ts';

/** The TypeScript migrations when running from source, their compiled copies when running from dist/. */
export const MIGRATIONS_DIR = RUNNING_FROM_SOURCE
  ? path.join(PACKAGE_ROOT, 'migrations')
  : path.join(PACKAGE_ROOT, 'dist', 'migrations');

/**
 * Kysely's FileMigrationProvider, except that the import() happens in this module: then the loader
 * that runs our TypeScript (tsx in development, vitest in tests) also loads the .ts migrations, and
 * the built CLI loads their .js copies in dist/migrations (same names, so the same history).
 */
class TypeScriptMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const file of await migrationFiles()) {
      const module = (await import(pathToFileURL(path.join(MIGRATIONS_DIR, file)).href)) as Migration;
      migrations[migrationName(file)] = module;
    }
    return migrations;
  }
}

/**
 * The migrations by name only, for the check every command makes before it runs: which ones are not
 * applied yet needs the names, not the code, and importing every migration module (40 and more) at
 * each start of a one-shot command cost time and memory for nothing.
 */
class MigrationNamesProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const notLoaded = async () => {
      throw new Error('the migration check never runs a migration');
    };
    return Object.fromEntries(
      (await migrationFiles()).map((file) => [migrationName(file), { up: notLoaded }]),
    );
  }
}

async function migrationFiles(): Promise<string[]> {
  return (await fs.readdir(MIGRATIONS_DIR))
    .filter((file) => /\.(ts|js|mjs)$/.test(file) && !file.endsWith('.d.ts'))
    .sort();
}

function migrationName(file: string): string {
  return file.replace(/\.(ts|js|mjs)$/, '');
}

function migrator(
  db: Kysely<any>,
  provider: MigrationProvider = new TypeScriptMigrationProvider(),
): Migrator {
  // Migrations written on parallel branches land in any order; each is applied once whatever its date.
  return new Migrator({ db, provider, allowUnorderedMigrations: true });
}

export interface MigrationOutcome {
  applied: string[];
  direction: 'Up' | 'Down';
  /** SQL files of src/db/functions/ applied again because they changed (up only). */
  functions?: string[];
}

function settle(
  direction: 'Up' | 'Down',
  { error, results }: { error?: unknown; results?: MigrationResult[] },
): MigrationOutcome {
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    const name = failed ? ` ${failed.migrationName}` : '';
    throw new AppError('db.migration_failed', `migration${name} failed: ${(error as Error).message}`, {
      status: 500,
      exitCode: 1,
      cause: error,
    });
  }
  return {
    direction,
    applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName),
  };
}

/**
 * Applies every migration not yet applied, in name (date) order, then the repeatable step: the SQL
 * functions whose files changed (see sql-functions.ts).
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationOutcome> {
  const outcome = settle('Up', await migrator(db).migrateToLatest());
  try {
    return { ...outcome, functions: await applySqlFunctions(db) };
  } catch (error) {
    throw new AppError('db.migration_failed', `SQL function ${(error as Error).message}`, {
      status: 500,
      exitCode: 1,
      cause: error,
    });
  }
}

/** Undoes the most recent migration. */
export async function migrateDown(db: Kysely<any>): Promise<MigrationOutcome> {
  return settle('Down', await migrator(db).migrateDown());
}

/** Undoes every migration. */
export async function migrateAllDown(db: Kysely<any>): Promise<MigrationOutcome> {
  const { NO_MIGRATIONS } = await import('kysely');
  return settle('Down', await migrator(db).migrateTo(NO_MIGRATIONS));
}

/** Migrations not applied yet, then SQL function files changed since they were last applied. */
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const all = await migrator(db, new MigrationNamesProvider()).getMigrations();
  const functions = await changedSqlFiles(db);
  return [...all.filter((m) => !m.executedAt).map((m) => m.name), ...functions.map((f) => `functions/${f}`)];
}
