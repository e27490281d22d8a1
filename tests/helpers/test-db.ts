import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { type DatabaseHandle, openPGlite, openPostgres } from '../../src/db/db.factory.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';

/** The server the tests use; CREATE DATABASE rights are needed (trust auth as postgres here). */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function adminQuery(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

export async function createTemplateDatabase(): Promise<string> {
  const name = `dm_tpl_${process.pid}_${randomBytes(3).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  const handle = openPostgres(databaseUrl(name), 2);
  try {
    await migrateToLatest(handle.db);
  } finally {
    await handle.close();
  }
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  await adminQuery(`drop database if exists ${name} with (force)`);
}

export interface TestDatabase extends DatabaseHandle {
  /** Connection string (PostgreSQL only), for child processes that must share the database. */
  url: string | undefined;
  name: string | undefined;
}

/** A fresh, migrated PostgreSQL database copied from the run's template. */
export async function createPostgresTestDatabase(poolSize = 10): Promise<TestDatabase> {
  const template = inject('templateDatabase');
  const name = `dm_test_${randomBytes(5).toString('hex')}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(`create database ${name} template ${template}`);
      break;
    } catch (error) {
      // Two files copying the template at the same instant: PostgreSQL refuses one; try again.
      if (attempt >= 20 || !/being accessed by other users/.test((error as Error).message)) throw error;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  const url = databaseUrl(name);
  const handle = openPostgres(url, poolSize);
  return {
    ...handle,
    url,
    name,
    close: async () => {
      await handle.close();
      await dropDatabase(name);
    },
  };
}

/** A fresh, migrated embedded database in memory. */
export async function createPGliteTestDatabase(): Promise<TestDatabase> {
  const handle = openPGlite();
  await migrateToLatest(handle.db);
  return { ...handle, url: undefined, name: undefined };
}

export type Engine = 'postgres' | 'pglite';

export async function createTestDatabase(engine: Engine = 'postgres'): Promise<TestDatabase> {
  return engine === 'postgres' ? createPostgresTestDatabase() : createPGliteTestDatabase();
}

/**
 * Runs the same suite on the real PostgreSQL and on the embedded one. The getter returns the
 * database of the engine in use (open for the whole suite).
 */
export function describeEachEngine(
  title: string,
  suite: (db: () => TestDatabase, engine: Engine) => void,
): void {
  for (const engine of ['postgres', 'pglite'] as const) {
    describe(`${title} [${engine}]`, () => {
      let current: TestDatabase | undefined;
      beforeAll(async () => {
        current = await createTestDatabase(engine);
      });
      afterAll(async () => {
        await current?.close();
      });
      suite(() => {
        if (!current) throw new Error('the test database is not open yet');
        return current;
      }, engine);
    });
  }
}

/** Empties every table (between tests that share one database). */
export async function truncateAll(handle: DatabaseHandle): Promise<void> {
  const { sql } = await import('kysely');
  await sql`truncate outbox, suppressions, events, deliveries, issues, subscriptions, subscribers, lists restart identity cascade`.execute(
    handle.db,
  );
}
