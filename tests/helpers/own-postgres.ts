import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './serve.ts';

const run = promisify(execFile);

/** The installed server's programs: Debian's newest /usr/lib/postgresql/<version>/bin; PG_BIN overrides. */
export const PG_BIN = process.env.PG_BIN ?? newestDebianServer();

function newestDebianServer(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return join(root, versions[0] ?? '15', 'bin');
}

/**
 * A PostgreSQL server of a test's own: initdb in a temporary folder, on a free port, started and
 * stopped with pg_ctl. Fault tests stop and restart it; the shared server on 5432 is never touched.
 *
 * PostgreSQL refuses to run as root, and the tests run as root in CI: then the folder is given to
 * the `postgres` user and every pg_ctl runs through `runuser -u postgres --`.
 */
export interface OwnPostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:PORT/digestmail (created by start()). */
  url: string;
  /** Stops the server (fast shutdown: connections are terminated, as in a real restart). */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder; resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stops it for good and removes the folder. */
  destroy(): Promise<void>;
}

export function postgresAvailable(): boolean {
  return existsSync(join(PG_BIN, 'pg_ctl')) && existsSync(join(PG_BIN, 'initdb'));
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const root = mkdtempSync(join(tmpdir(), 'dm-own-pg-'));
  const data = join(root, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    chownSync(root, uid, gid);
  }
  const pgRun = (program: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(PG_BIN, program), ...args], { cwd: root })
      : run(join(PG_BIN, program), args, { cwd: root });

  await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    `-k ${root}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c max_connections=100',
  ].join(' ');
  const start = async () => {
    await pgRun('pg_ctl', [
      '-D',
      data,
      '-o',
      options,
      '-l',
      join(root, 'server.log'),
      '-w',
      '-t',
      '120',
      'start',
    ]);
  };
  const stop = async () => {
    await pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '120', 'stop']);
  };
  await start();
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('create database digestmail');
  await admin.end();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/digestmail`,
    start,
    stop,
    destroy: async () => {
      await pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      rmSync(root, { recursive: true, force: true });
    },
  };
}
