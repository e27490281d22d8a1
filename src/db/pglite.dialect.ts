import { AsyncLocalStorage } from 'node:async_hooks';
import type { PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';

/**
 * Kysely over the embedded PostgreSQL. PGlite is one backend with one session, so the driver hands
 * out that session to one Kysely connection at a time: a transaction holds it until COMMIT, and
 * every other query waits its turn, exactly as it would for the last connection of a pool of one.
 */
export class PGliteDialect implements Dialect {
  /**
   * The instance is made on first use, so that processes on PostgreSQL never load the WASM build.
   * `onDiskFull` is told when a write failed because the disk is full (SQLSTATE 53100).
   */
  constructor(
    private readonly create: () => Promise<PGlite>,
    private readonly onDiskFull?: (error: Error) => void,
  ) {}

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.create, this.onDiskFull);
  }
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
}

/** An open transaction, as seen from the code running inside it (its callback and what that starts). */
interface OpenTransaction {
  open: boolean;
}

/** Thrown at once where waiting for the connection would wait forever. */
export const OUTER_HANDLE_IN_TRANSACTION =
  'a query on the outer database handle inside a transaction: on the embedded database (one connection) it would wait forever for that transaction to end; run it on the transaction (trx) instead';

class PGliteDriver implements Driver {
  private pglite: PGlite | undefined;
  private connection: PGliteConnection | undefined;
  private queue: Promise<void> = Promise.resolve();
  /**
   * Marks the async context of a transaction's callback: beginTransaction enters it (enterWith, before
   * Kysely awaits, so the callback and everything it starts inherit it) and commit or rollback closes
   * it. A connection asked for from inside an open transaction is a query on the outer handle, which
   * would queue behind the very transaction that waits for it: refused at once instead of hanging.
   * Other callers (another request, another task) have no mark and wait their turn as before.
   */
  private readonly inTransaction = new AsyncLocalStorage<OpenTransaction>();

  constructor(
    private readonly create: () => Promise<PGlite>,
    private readonly onDiskFull?: (error: Error) => void,
  ) {}

  async init(): Promise<void> {
    this.pglite = await this.create();
    await this.pglite.waitReady;
    this.connection = new PGliteConnection(this.pglite, this.onDiskFull);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.inTransaction.getStore()?.open) throw new Error(OUTER_HANDLE_IN_TRANSACTION);
    let release!: () => void;
    const previous = this.queue;
    this.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    const connection = this.connection!;
    connection.release = release;
    return connection;
  }

  // Not async: enterWith must run in the caller's synchronous step, before Kysely's await on it.
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const open: OpenTransaction = { open: true };
    (connection as PGliteConnection).transaction = open;
    this.inTransaction.enterWith(open);
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    return connection.executeQuery(CompiledQuery.raw(`begin${isolation}`)).then(() => undefined);
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    this.close(connection);
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    this.close(connection);
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  private close(connection: DatabaseConnection): void {
    const c = connection as PGliteConnection;
    if (c.transaction) c.transaction.open = false;
    c.transaction = undefined;
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as PGliteConnection).release?.();
  }

  async destroy(): Promise<void> {
    await this.queue;
    if (this.pglite && !this.pglite.closed) await this.pglite.close();
  }
}

class PGliteConnection implements DatabaseConnection {
  release: (() => void) | undefined;
  transaction: OpenTransaction | undefined;

  constructor(
    private readonly pglite: PGlite,
    private readonly onDiskFull?: (error: Error) => void,
  ) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    let result: Awaited<ReturnType<PGlite['query']>>;
    try {
      result = await this.pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters]);
    } catch (error) {
      if (isDiskFull(error)) this.onDiskFull?.(error as Error);
      throw error;
    }
    const command = result.command?.toUpperCase();
    const changed =
      command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
    return {
      rows: result.rows as R[],
      ...(changed ? { numAffectedRows: BigInt(result.rowCount ?? result.affectedRows ?? 0) } : {}),
    };
  }

  // biome-ignore lint/correctness/useYield: PGlite has no cursors over its wire; streaming is refused.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on the embedded database; page with keyset queries');
  }
}

/** disk_full, or the file system's own words for it when PostgreSQL did not get to classify it. */
function isDiskFull(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | undefined;
  return e?.code === '53100' || /No space left on device|ENOSPC/i.test(e?.message ?? '');
}
