import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openPGlite } from '../src/db/db.factory.ts';
import { migrateToLatest } from '../src/db/migrator.ts';

describe('the embedded database (PGlite) dialect', () => {
  let handle: DatabaseHandle;
  beforeAll(async () => {
    handle = openPGlite();
    await migrateToLatest(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
  });

  it('a query on the outer handle inside a transaction fails at once with a clear error, and the transaction rolls back', async () => {
    const { db } = handle;
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('lists').values({ slug: 'inner', name: 'Inner' }).execute();
        await db.selectFrom('lists').selectAll().execute();
      }),
    ).rejects.toThrow(/outer database handle inside a transaction/);
    // The transaction was rolled back and the connection given back: the database still answers.
    expect(await db.selectFrom('lists').select('slug').where('slug', '=', 'inner').execute()).toEqual([]);
  });

  it('a nested db.transaction() inside a transaction fails the same way', async () => {
    const { db } = handle;
    await expect(
      db.transaction().execute(async () => {
        await db.transaction().execute(async (inner) => sql`select 1`.execute(inner));
      }),
    ).rejects.toThrow(/outer database handle inside a transaction/);
  });

  it('queries from outside a transaction wait for it to end, then run', async () => {
    const { db } = handle;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const transaction = db.transaction().execute(async (trx) => {
      await trx.insertInto('lists').values({ slug: 'waited', name: 'Waited' }).execute();
      await held;
    });
    // Started outside the transaction's callback: it queues behind the transaction instead of failing.
    const outside = db.selectFrom('lists').select('slug').where('slug', '=', 'waited').execute();
    release();
    await transaction;
    expect(await outside).toEqual([{ slug: 'waited' }]);
  });

  it('work a transaction started may use the outer handle once the transaction is over', async () => {
    const { db } = handle;
    let later: Promise<unknown> | undefined;
    let commit!: () => void;
    const committed = new Promise<void>((resolve) => {
      commit = resolve;
    });
    await db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      // Started inside the transaction (it inherits its context), runs only after the commit.
      later = committed.then(() => db.selectFrom('lists').select('slug').execute());
    });
    commit();
    await expect(later).resolves.toBeInstanceOf(Array);
  });
});
