/**
 * The embedded database (PGlite in DATA_DIR/pgdata) has one writer at a time: a second process stops
 * with one line naming the first, and a full disk stops a process with one line.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { type RunningServe, startServe } from './helpers/serve.ts';

const SECRET_KEY = 'test-secret-key-test-secret-key-0123456789';

describe('one writer for the embedded database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-lock-'));
  const env = {
    DATA_DIR: dir,
    SECRET_KEY,
    DATABASE_URL: '',
    LOG_LEVEL: 'warn',
    MAIL_URL: `outbox:${join(dir, 'out')}`,
  };
  const lockFile = join(dir, 'pgdata.lock');
  let serve: RunningServe | undefined;

  afterAll(async () => {
    await serve?.stop();
  });

  it('a command while serve runs stops with one line naming serve and its pid, and writes nothing', async () => {
    expect(
      (await runCli(['list', 'create', 'a', '--name', 'A', '--single-opt-in'], env, { timeoutMs: 240_000 }))
        .code,
    ).toBe(0);
    serve = await startServe(env, { timeoutMs: 240_000 });
    const lock = JSON.parse(readFileSync(lockFile, 'utf8'));
    expect(lock).toMatchObject({ pid: serve.child.pid, command: 'serve' });
    expect(statSync(lockFile).mode & 0o777).toBe(0o600);

    const second = await runCli(['subscribers', 'add', 'x@example.net', '--list', 'a'], env, {
      timeoutMs: 240_000,
    });
    expect(second.code).toBe(2);
    expect(second.stdout).toBe('');
    expect(second.stderr).toBe(
      `digestmail: the embedded database in ${join(dir, 'pgdata')} is in use by process ${serve.child.pid} (digestmail serve); stop it first, or set DATABASE_URL to use a PostgreSQL server that several processes can share\n`,
    );

    expect(await serve.stop()).toBe(0);
    serve = undefined;
    expect(existsSync(lockFile)).toBe(false);
    const list = await runCli(['list', 'ls', '--json'], env, { timeoutMs: 240_000 });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ slug: 'a', counts: expect.objectContaining({ confirmed: 0 }) }),
    ]);
  }, 600_000);

  it('a lock left by a process that died is taken over', async () => {
    // A pid that is certainly not running: one past the kernel's limit is never handed out.
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    writeFileSync(lockFile, JSON.stringify({ pid: pidMax + 1, command: 'serve', startedAt: '' }), {
      mode: 0o600,
    });
    const result = await runCli(['list', 'create', 'stale', '--name', 'Stale', '--single-opt-in'], env, {
      timeoutMs: 240_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(lockFile)).toBe(false);
    const lists = await runCli(['list', 'ls', '--json'], env, { timeoutMs: 240_000 });
    expect(JSON.parse(lists.stdout).map((l: { slug: string }) => l.slug)).toContain('stale');
  }, 300_000);
});

/** A tmpfs of `size` at `dir`, if this machine lets us mount one (root with CAP_SYS_ADMIN). */
function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('the embedded database on a full disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-fulldb-'));
  // Whether a tmpfs can be mounted here, tried once (and let go) while the tests are collected; the
  // test mounts its own, so a run that skips it leaves nothing mounted.
  const canMount = process.getuid?.() === 0 && mountTmpfs(dir, '96m');
  if (canMount) execFileSync('umount', [dir]);
  let mounted = false;
  afterAll(() => {
    if (mounted) execFileSync('umount', ['-l', dir]);
  });

  // A disk that fills up needs a file system of its own: a tmpfs, which only root may mount.
  it.skipIf(!canMount)(
    'stops the command with one line saying the disk is full',
    async () => {
      mounted = mountTmpfs(dir, '96m');
      expect(mounted).toBe(true);
      const env = { DATA_DIR: dir, SECRET_KEY, DATABASE_URL: '', MAIL_URL: `outbox:${join(dir, 'out')}` };
      expect(
        (await runCli(['list', 'create', 'a', '--name', 'A', '--single-opt-in'], env, { timeoutMs: 240_000 }))
          .code,
      ).toBe(0);
      // Fill the disk but for 256 KiB: room for the lock file, not for the rows that follow.
      const free = statfsSync(dir);
      writeFileSync(join(dir, 'filler'), Buffer.alloc(free.bavail * free.bsize - 256 * 1024));
      const csv = [
        'email,name',
        ...Array.from({ length: 20_000 }, (_, i) => `reader${i}@example.net,Reader ${i}`),
      ];
      writeFileSync(join(tmpdir(), 'dm-fulldb.csv'), `${csv.join('\n')}\n`);
      const result = await runCli(
        ['subscribers', 'import', join(tmpdir(), 'dm-fulldb.csv'), '--list', 'a', '--quiet'],
        env,
        {
          timeoutMs: 120_000,
        },
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(
          `^digestmail: the disk holding the embedded database \\(${join(dir, 'pgdata')}\\) is full: .*No space left on device.*; free some space and start digestmail again\\n$`,
        ),
      );
      expect(existsSync(join(dir, 'pgdata.lock'))).toBe(false);
    },
    180_000,
  );
});
