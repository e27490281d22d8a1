import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { AppError } from '../core/errors.ts';

/**
 * One writer for the embedded database. PGlite keeps no lock of its own: two processes opening the
 * same DATA_DIR/pgdata each run a PostgreSQL over the same files, and whatever the last one to close
 * writes wins (a subscriber added by one is gone when the other stops). So the process that opens
 * it first leaves a lock file beside it holding its pid, and any other process stops with one line
 * naming that pid.
 *
 * Hand-written rather than a lock library: the ones on npm (proper-lockfile and its kin) declare a
 * lock stale after an idle time, so a live but busy holder could lose it and two writers would
 * follow. Here a lock is stale only when its process is gone.
 */

interface LockRecord {
  pid: number;
  command: string;
  startedAt: string;
}

/** A stale-lock takeover in progress longer than this was abandoned by a process that died in it. */
const TAKEOVER_STALE_MS = 10_000;

export interface PGliteLock {
  release(): void;
}

/** Takes the lock at `path` (owner-only, 0600) or throws an AppError naming the holder. */
export function lockEmbeddedDatabase(path: string, dataDir: string): PGliteLock {
  const record: LockRecord = {
    pid: process.pid,
    command: commandName(),
    startedAt: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (create(path, record, dataDir)) return { release: () => release(path) };
    const holder = read(path);
    if (holder && isAlive(holder.pid)) throw inUse(dataDir, holder);
    // Stale: its process is gone. Take it over under a second lock, so two processes that both found
    // it stale cannot each remove the other's fresh lock.
    const takeover = `${path}.takeover`;
    if (!create(takeover, record, dataDir)) {
      if (Date.now() - mtimeOf(takeover) > TAKEOVER_STALE_MS) unlinkQuietly(takeover);
      continue;
    }
    try {
      const again = read(path);
      if (again && isAlive(again.pid)) throw inUse(dataDir, again);
      unlinkQuietly(path);
      if (create(path, record, dataDir)) return { release: () => release(path) };
    } finally {
      unlinkQuietly(takeover);
    }
  }
  const holder = read(path);
  throw inUse(dataDir, holder ?? { pid: 0, command: 'unknown', startedAt: '' });
}

function inUse(dataDir: string, holder: LockRecord): AppError {
  return new AppError(
    'db.embedded_in_use',
    `the embedded database in ${dataDir} is in use by process ${holder.pid} (digestmail ${holder.command}); ` +
      'stop it first, or set DATABASE_URL to use a PostgreSQL server that several processes can share',
    { exitCode: 2, status: 503 },
  );
}

/** Creates the file only if it does not exist yet (O_EXCL); false when it does. */
function create(path: string, record: LockRecord, dataDir: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${JSON.stringify(record)}\n`);
  } catch (error) {
    closeSync(fd);
    unlinkQuietly(path);
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new AppError(
        'db.disk_full',
        `the disk holding the embedded database (${dataDir}) is full: ${(error as Error).message}; free some space and start digestmail again`,
        { exitCode: 1, status: 503 },
      );
    }
    throw error;
  }
  closeSync(fd);
  return true;
}

function read(path: string): LockRecord | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockRecord>;
    if (typeof parsed.pid !== 'number') return undefined;
    return {
      pid: parsed.pid,
      command: String(parsed.command ?? ''),
      startedAt: String(parsed.startedAt ?? ''),
    };
  } catch {
    // Unreadable or half written (its writer died between open and write): treat as stale.
    return undefined;
  }
}

/**
 * Whether the process that wrote the lock still runs. Our own pid is not a holder (a container that
 * restarted reuses pids, so a lock left by the previous run may carry ours). On Linux, a pid that now
 * belongs to something other than a Node process is a reused pid, not the holder.
 */
function isAlive(pid: number): boolean {
  if (pid === process.pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /node|digestmail|tsx/.test(cmdline);
  } catch {
    return true; // no /proc (macOS): the pid answering is all we can know
  }
}

function release(path: string): void {
  const holder = read(path);
  if (holder?.pid === process.pid) unlinkQuietly(path);
}

function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** The subcommand (serve, worker, subscribers …), never its arguments, which may hold addresses. */
function commandName(): string {
  const words = [];
  for (const arg of process.argv.slice(2)) {
    if (!/^[a-z][a-z-]*$/.test(arg) || words.length === 2) break;
    words.push(arg);
  }
  return words.join(' ') || 'unknown';
}
