import { chmodSync, lstatSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboxTransport } from '../src/transports/outbox/outbox.transport.ts';
import { runCliInProcess } from './helpers/cli.ts';

/** Every path under dir with its permission bits, in octal. */
function modes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (path: string) => {
    const stat = lstatSync(path);
    out.set(path, (stat.mode & 0o777).toString(8));
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return out;
}

const saved = process.umask();
/** Creating an embedded database runs every migration in a fresh PGlite: on a machine at load ~25 that
 * alone took over a minute, so these tests get more time than the suite default. */
const SLOW = 300_000;
afterEach(() => {
  process.umask(saved);
});

describe('DATA_DIR is owner-only', () => {
  it(
    'with umask 000, the embedded database, the secret key and DATA_DIR are 0700 folders and 0600 files',
    async () => {
      const dataDir = join(mkdtempSync(join(tmpdir(), 'dm-perms-')), 'data');
      process.umask(0o000);
      const result = await runCliInProcess(['list', 'create', 'perms', '--name', 'Perms'], {
        DATA_DIR: dataDir,
        SECRET_KEY: '',
        DATABASE_URL: '',
      });
      expect(result.code, result.stderr).toBe(0);
      const all = modes(dataDir);
      expect(all.size).toBeGreaterThan(100); // PGlite's files are there
      const loose = [...all].filter(([path, mode]) => {
        const isDir = lstatSync(path).isDirectory();
        return mode !== (isDir ? '700' : '600');
      });
      expect(loose).toEqual([]);
    },
    SLOW,
  );

  it('an outbox .eml file is 0600 in a 0700 folder, whatever the umask', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'dm-perms-outbox-')), 'outbox');
    process.umask(0o000);
    const transport = new OutboxTransport(dir);
    await transport.send({
      envelopeFrom: 'news@example.org',
      to: ['reader@example.org'],
      messageId: '<perms@example.org>',
      raw: Buffer.from('Subject: hi\r\n\r\nhttps://news.example.org/unsubscribe/live-token\r\n'),
    });
    const all = modes(dir);
    expect(all.get(dir)).toBe('700');
    const files = [...all].filter(([path]) => path.endsWith('.eml'));
    expect(files).toHaveLength(1);
    expect(files[0]![1]).toBe('600');
  });

  it('a DATA_DIR loosened since is reported at start and made owner-only again', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'dm-perms-loose-')), 'data');
    const first = await runCliInProcess(['list', 'ls'], {
      DATA_DIR: dataDir,
      SECRET_KEY: '',
      DATABASE_URL: '',
    });
    expect(first.code, first.stderr).toBe(0);
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'secret.key'), 0o644);
    writeFileSync(join(dataDir, 'pgdata', 'copied-in'), 'x', { mode: 0o666 });
    chmodSync(join(dataDir, 'pgdata', 'copied-in'), 0o666);
    const again = await runCliInProcess(['list', 'ls'], {
      DATA_DIR: dataDir,
      SECRET_KEY: '',
      DATABASE_URL: '',
    });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(
      /^digestmail: warning: \d+ file\(s\) or folder\(s\) in DATA_DIR were readable or writable by others/,
    );
    expect(modes(dataDir).get(dataDir)).toBe('700');
    expect(modes(dataDir).get(join(dataDir, 'secret.key'))).toBe('600');
    expect(modes(dataDir).get(join(dataDir, 'pgdata', 'copied-in'))).toBe('600');
  });
});
