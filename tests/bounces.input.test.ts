import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SeededDelivery, seedIssue } from './bounces.seed.ts';
import { runCli, runCliInProcess } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

/**
 * How bounce mail gets in (issue 11.8 and 11.9, issue 13's --maildir): whatever a stranger sends to
 * the bounce address, `bounces ingest` answers with one line and exit 0 (an MTA bounces the bounce
 * on any other exit), reads at most 10 MB, and prints nothing that can drive the terminal.
 */

const SECRET = 'input-test-secret-0123456789abcdef0123456789';
const FIXTURES = new URL('./fixtures/dsn/', import.meta.url);

let database: TestDatabase;
let dir: string;

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  dir = mkdtempSync(join(tmpdir(), 'dm-bounce-input-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await database?.close();
});

const env = () => ({ DATABASE_URL: database.url, SECRET_KEY: SECRET });

/** A fixture (real server wording, see dsn.test.ts) for the delivery, found by its Message-ID. */
function fixture(name: string, d: SeededDelivery, edit: (text: string) => string = (t) => t): Buffer {
  const text = readFileSync(new URL(name, FIXTURES), 'utf8')
    .replaceAll('{{VERP}}', 'bounces@news.example.org')
    .replaceAll('{{RECIPIENT}}', d.email)
    .replaceAll('{{RECIPIENT_LOCAL}}', d.email.split('@')[0]!)
    .replaceAll('{{MESSAGE_ID}}', d.messageId)
    .replaceAll('{{ISSUE_ID}}', String(d.issueId));
  return Buffer.from(edit(text).replace(/\r?\n/g, '\r\n'), 'utf8');
}

/** multipart/mixed inside multipart/mixed, `depth` times. */
function deeplyNested(depth: number): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`;
    close = `\r\n--b${i}--\r\n${close}`;
  }
  return `From: x@example.net\r\nTo: bounces@news.example.org\r\nSubject: nested\r\nMIME-Version: 1.0\r\n${open}Content-Type: text/plain\r\n\r\nhi${close}`;
}

function manyParts(count: number): string {
  const head =
    'From: x@example.net\r\nTo: bounces@news.example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n';
  return `${head}${'--b\r\nContent-Type: text/plain\r\n\r\nx\r\n'.repeat(count)}--b--\r\n`;
}

const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

async function eventsOf(d: SeededDelivery) {
  return database.db.selectFrom('events').selectAll().where('delivery_id', '=', d.id).execute();
}

describe('bounces ingest on hostile input', { timeout: 120_000 }, () => {
  it('2,000-deep MIME nesting (stdin) and 200,000 parts (file) are one "ignored" line with exit 0', async () => {
    const nested = await runCli(['bounces', 'ingest', '-'], env(), { input: deeplyNested(2000) });
    expect(nested).toMatchObject({ code: 0, stderr: '' });
    expect(nested.stdout.trim().split('\n')).toHaveLength(1);
    expect(nested.stdout).toMatch(/^ignored: beyond the MIME parser's limits \(.+\); nothing changed\n$/);

    const file = join(dir, 'parts.eml');
    writeFileSync(file, manyParts(200_000));
    const parts = await runCliInProcess(['bounces', 'ingest', file], env());
    expect(parts).toMatchObject({ code: 0, stderr: '' });
    expect(parts.stdout).toMatch(/^ignored: beyond the MIME parser's limits \(.+\); nothing changed\n$/);
  });

  it('more than 10 MB is not read: "too large, ignored" with exit 0, from stdin and from a file', async () => {
    const big = `From: x@example.net\r\nSubject: big\r\n\r\n${'A'.repeat(76)}\r\n`.repeat(1);
    const fifty = big + `${'B'.repeat(998)}\r\n`.repeat(50 * 1024);
    const piped = await runCli(['bounces', 'ingest', '-'], env(), { input: fifty });
    expect(piped).toMatchObject({ code: 0, stderr: '' });
    expect(piped.stdout).toBe('ignored: too large (over 10 MB), not read; nothing changed\n');

    const file = join(dir, 'big.eml');
    writeFileSync(file, big + `${'C'.repeat(998)}\r\n`.repeat(11 * 1024));
    const read = await runCliInProcess(['bounces', 'ingest', file], env());
    expect(read).toMatchObject({ code: 0, stderr: '' });
    expect(read.stdout).toBe('ignored: too large (over 10 MB), not read; nothing changed\n');
  });

  it('escape sequences in a diagnostic or a subject never reach the terminal', async () => {
    const { deliveries } = await seedIssue(database.db, ['escape@example.net']);
    const d = deliveries[0]!;
    const hostile = fixture('postfix-user-unknown.eml', d, (text) =>
      text.replace(
        /^Diagnostic-Code: .*$/m,
        'Diagnostic-Code: smtp; 550 5.1.1 gone \u001b]0;owned\u0007\u001b[2J\u001b[31mred\u009b1m',
      ),
    );
    const file = join(dir, 'escape.eml');
    writeFileSync(file, hostile);
    const shown = await runCliInProcess(['bounces', 'ingest', file], env());
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('escape@example.net');
    expect(shown.stdout).toContain('gone \uFFFD]0;owned\uFFFD\uFFFD[2J\uFFFD[31mred\uFFFD1m');
    expect(shown.stdout.trimEnd()).not.toMatch(CONTROL);
    expect(await eventsOf(d)).toHaveLength(1);

    // A subject is quoted in the "not a bounce" line; an encoded word can carry any byte.
    const subject = `=?utf-8?b?${Buffer.from('Out of office \u001b[2J\u001b]0;x\u0007').toString('base64')}?=`;
    const notBounce = await runCli(['bounces', 'ingest', '-'], env(), {
      input: `From: a@example.net\r\nTo: bounces@news.example.org\r\nSubject: ${subject}\r\n\r\nI am away.\r\n`,
    });
    expect(notBounce.code).toBe(0);
    expect(notBounce.stdout).toMatch(/^ignored: /);
    expect(notBounce.stdout.trimEnd()).not.toMatch(CONTROL);
  });
});

describe('bounces ingest --maildir', { timeout: 120_000 }, () => {
  it('ingests every message of cur/ and new/ in one process, skips what it cannot read, and prints a summary', async () => {
    const { deliveries } = await seedIssue(database.db, [
      'maildir-unknown@example.net',
      'maildir-exim@example.net',
      'maildir-gmail@example.net',
    ]);
    const [unknown, exim, gmail] = deliveries as [SeededDelivery, SeededDelivery, SeededDelivery];
    const maildir = join(dir, `Maildir-${randomUUID().slice(0, 8)}`);
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
    const put = (sub: string, raw: Buffer | string) =>
      writeFileSync(
        join(maildir, sub, `${Date.now()}.${randomUUID()}.mx.example.net${sub === 'cur' ? ':2,S' : ''}`),
        raw,
      );
    put('new', fixture('postfix-user-unknown.eml', unknown));
    put('cur', fixture('exim-failed.eml', exim));
    put('new', fixture('gmail-550-5.1.1.eml', gmail));
    put('cur', fixture('out-of-office.eml', unknown));
    put('new', deeplyNested(2000));
    put('new', `From: x@example.net\r\nSubject: big\r\n\r\n${`${'D'.repeat(998)}\r\n`.repeat(11 * 1024)}`);
    put('new', '');
    // Not messages: a file still being delivered, and a dot file.
    put('tmp', fixture('postfix-user-unknown.eml', gmail));
    writeFileSync(join(maildir, 'new', '.keep'), 'not mail');

    const result = await runCliInProcess(['bounces', 'ingest', '--maildir', maildir], env());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(result.stdout).toMatch(
      /: 7 message\(s\) in [\d.]+ s \(\d+\/s\): 3 bounce\(s\) applied \(3 event\(s\), 3 suppression\(s\)\), 1 not a bounce, 0 unmatched, 3 ignored \(too large, unreadable or beyond the parser's limits\)\n$/,
    );
    for (const d of [unknown, exim, gmail])
      expect((await eventsOf(d)).map((e) => e.type)).toEqual(['hard_bounce']);

    // Read only: the same maildir again records nothing new.
    const again = await runCliInProcess(['bounces', 'ingest', '--maildir', maildir, '--verbose'], env());
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already recorded, nothing changed');
    expect(again.stdout).toMatch(/new\/[^\n]+: ignored: too large \(over 10 MB\), not read/);
    for (const d of [unknown, exim, gmail]) expect(await eventsOf(d)).toHaveLength(1);
  });

  it('a missing folder, a folder that is not a maildir, or a file and --maildir together are one line and exit 2', async () => {
    const missing = await runCliInProcess(['bounces', 'ingest', '--maildir', join(dir, 'nope')], env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`digestmail: no such folder: ${join(dir, 'nope')}\n`);

    const plain = join(dir, 'plain');
    mkdirSync(plain, { recursive: true });
    const notMaildir = await runCliInProcess(['bounces', 'ingest', '--maildir', plain], env());
    expect(notMaildir.code).toBe(2);
    expect(notMaildir.stderr).toBe(`digestmail: ${plain} has neither cur/ nor new/: it is not a maildir\n`);

    const both = await runCliInProcess(['bounces', 'ingest', '-', '--maildir', plain], env());
    expect(both.code).toBe(2);
    expect(both.stderr.trim().split('\n')).toHaveLength(1);
  });
});
