import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.loader.ts';

function dataDir(): string {
  return mkdtempSync(join(tmpdir(), 'digestmail-config-'));
}

describe('config', () => {
  it('defaults give a working setup with an outbox transport inside DATA_DIR', () => {
    const dir = dataDir();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config.MAIL_URL).toBe(`outbox:${join(dir, 'outbox')}`);
    expect(config.PORT).toBe(3000);
    expect(config.SEND_RATE).toBe(10);
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('outside production a secret key is generated once and reused', () => {
    const dir = dataDir();
    const first = loadConfig({ DATA_DIR: dir });
    const second = loadConfig({ DATA_DIR: dir });
    expect(first.SECRET_KEY).toHaveLength(64);
    expect(second.SECRET_KEY).toBe(first.SECRET_KEY);
    expect(readFileSync(join(dir, 'secret.key'), 'utf8').trim()).toBe(first.SECRET_KEY);
  });

  it('production refuses to start without SECRET_KEY', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir() })).toThrow(/SECRET_KEY: required/);
  });

  it.each([
    ['SEND_RATE', 'fast', /SEND_RATE: expected a number \(got "fast"\)/],
    ['SEND_CONCURRENCY', '0', /SEND_CONCURRENCY: expected a whole number greater than 0/],
    ['PORT', '70000', /PORT: expected a TCP port number from 0 to 65535/],
    ['PUBLIC_URL', 'ftp://x', /PUBLIC_URL: expected an http\(s\) URL/],
    ['MAIL_URL', 'carrier-pigeon://x', /MAIL_URL: expected smtp:/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL: expected postgres:/],
    ['TZ', 'Mars/Olympus', /TZ: expected an IANA time zone/],
    ['VERP', 'maybe', /VERP: expected true or false/],
    ['FAILURE_PAUSE_RATE', '2', /FAILURE_PAUSE_RATE: expected a fraction between 0 and 1/],
  ])('a bad %s is named with what is expected', (name, value, message) => {
    let error: unknown;
    try {
      loadConfig({ DATA_DIR: dataDir(), [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(message);
    expect((error as ConfigError).exitCode).toBe(2);
  });

  it('a short SECRET_KEY is refused without echoing the secret', () => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), SECRET_KEY: 'hunter2' })).toThrow(
      /^invalid setting SECRET_KEY: expected at least 32 characters[^"]*$/,
    );
  });

  it('flags accept the usual words and trailing slashes are cut from PUBLIC_URL', () => {
    const config = loadConfig({ DATA_DIR: dataDir(), VERP: 'Yes', PUBLIC_URL: 'https://news.example.org/' });
    expect(config.VERP).toBe(true);
    expect(config.PUBLIC_URL).toBe('https://news.example.org');
  });
});

describe('addresses in settings', () => {
  it.each(['bounce@example.org', '<bounce@example.org>', 'News 日报 <news@example.org>'])(
    '%s is accepted',
    (value) => {
      expect(
        loadConfig({ DATA_DIR: dataDir(), BOUNCE_ADDRESS: value, MAIL_FROM: value }).BOUNCE_ADDRESS,
      ).toBe(value);
    },
  );

  it.each(['bounce', 'a@b@c', 'News <news>'])('%s is refused', (value) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), MAIL_FROM: value })).toThrow(
      /MAIL_FROM: expected an address/,
    );
  });
});

describe('TRUST_PROXY', () => {
  it.each([
    ['false', false],
    ['true', true],
    ['1', 1],
    ['10.0.0.1, 10.1.0.0/16', ['10.0.0.1', '10.1.0.0/16']],
  ])('%s is read as %j', (value, expected) => {
    expect(loadConfig({ DATA_DIR: dataDir(), TRUST_PROXY: value }).TRUST_PROXY).toEqual(expected);
  });

  it('anything else is refused', () => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), TRUST_PROXY: 'proxy.example.org' })).toThrow(
      /TRUST_PROXY: expected false/,
    );
  });
});
