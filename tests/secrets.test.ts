import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maskCredentials } from '../src/core/secrets.text.ts';
import { runCliInProcess } from './helpers/cli.ts';

describe('maskCredentials', () => {
  it('hides the userinfo of connection strings, typos included, and keeps host and path', () => {
    expect(maskCredentials('smtp://ann:s3cret@mail.example.org:587')).toBe('smtp://***@mail.example.org:587');
    expect(maskCredentials('got "postgres://app:s3cret@db:5432/news"')).toBe(
      'got "postgres://***@db:5432/news"',
    );
    expect(maskCredentials('smtp//ann:s3cret@mail.example.org')).toBe('smtp//***@mail.example.org');
    expect(maskCredentials('postgres:/app:s3cret@db/news')).toBe('postgres:/***@db/news');
    expect(maskCredentials('value ann:s3cret@mail.example.org')).toBe('value ***@mail.example.org');
    expect(maskCredentials('outbox:/var/mail and ana@example.org')).toBe(
      'outbox:/var/mail and ana@example.org',
    );
  });
});

describe('settings that hold secrets', () => {
  it('a mistyped MAIL_URL or DATABASE_URL is named, never echoed with its password', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dm-secrets-'));
    const mail = await runCliInProcess(['list', 'ls'], {
      DATA_DIR: dataDir,
      MAIL_URL: 'smtp//ann:s3cretpw@mail.example.org:587',
    });
    expect(mail.code).toBe(2);
    expect(mail.stderr).toMatch(/MAIL_URL/);
    expect(mail.stderr).not.toContain('s3cretpw');

    const database = await runCliInProcess(['list', 'ls'], {
      DATA_DIR: dataDir,
      DATABASE_URL: 'postgress://app:s3cretpw@127.0.0.1:5432/news',
    });
    expect(database.code).toBe(2);
    expect(database.stderr).toMatch(/DATABASE_URL/);
    expect(database.stderr).not.toContain('s3cretpw');
  });

  it('a short or empty DATA_DIR/secret.key is a setting error naming the file', async () => {
    for (const content of ['', 'short\n']) {
      const dataDir = mkdtempSync(join(tmpdir(), 'dm-secret-key-'));
      const file = join(dataDir, 'secret.key');
      writeFileSync(file, content, { mode: 0o600 });
      const result = await runCliInProcess(['list', 'ls'], {
        DATA_DIR: dataDir,
        SECRET_KEY: '',
        NODE_ENV: 'development',
      });
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(file);
      expect(result.stderr).not.toMatch(/internal error/);
    }
  });
});

describe('logs', () => {
  it('a logged error quoting a connection string carries no password', async () => {
    const { default: pino } = await import('pino');
    const { maskingLogHooks } = await import('../src/core/secrets.text.ts');
    const lines: string[] = [];
    const logger = pino({ hooks: maskingLogHooks }, { write: (line: string) => void lines.push(line) });
    logger.error(
      { err: new Error('connect failed for postgres://app:s3cretpw@db.example.org/news') },
      'cannot reach smtp://ann:s3cretpw@mail.example.org',
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('s3cretpw');
    expect(JSON.parse(lines[0]!).msg).toBe('cannot reach smtp://***@mail.example.org');
  });
});
