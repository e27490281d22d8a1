import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliInProcess } from './helpers/cli.ts';
import { header, startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';
import {
  type Audience,
  createIssue,
  issueStatus,
  perRecipient,
  seedAudience,
  senderEnv,
} from './sender.helpers.ts';

/** RFC 2047 encoded words (=?UTF-8?B?…?= / ?Q?) back to text. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_, kind: string, text: string) =>
      kind.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(
            text
              .replace(/_/g, ' ')
              .replace(/=([0-9a-f]{2})/gi, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
            'latin1',
          ).toString('utf8'),
    );
}

describe('sending an issue to a real SMTP server', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let audience: Audience;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    smtp = await startSmtpServer();
    audience = await seedAudience(db.db, 2000);
    env = senderEnv(db.url!, smtp.url);
  });
  afterAll(async () => {
    await smtp?.close();
    await db?.close();
  });

  it('reaches each of 2,000 confirmed subscribers exactly once, and no pending, unsubscribed, suppressed or blocklisted one', async () => {
    const id = await createIssue(env);
    const result = await runCli(['issue', 'send', String(id), '--wait'], env, { timeoutMs: 120_000 });
    expect(result.stderr).toContain('2000 deliveries queued');
    expect(result.code).toBe(0);

    const counts = perRecipient(smtp.messages());
    expect(counts.size).toBe(2000);
    for (const email of audience.confirmed) expect(counts.get(email)).toBe(1);
    for (const email of [
      ...audience.pending,
      ...audience.unsubscribed,
      ...audience.suppressed,
      ...audience.blocklisted,
    ]) {
      expect(counts.has(email)).toBe(false);
    }

    const status = await issueStatus(env, id);
    expect(status.status).toBe('sent');
    expect(status.counts).toEqual({
      total: 2000,
      queued: 0,
      sending: 0,
      sent: 2000,
      delivered: 0,
      failed: 0,
      bounced: 0,
      complained: 0,
      suppressed: 0,
      unsubscribed: 0,
      resent_after_crash: 0,
    });

    // Every delivery records the Message-ID that went out, and when.
    const rows = await db.db.selectFrom('deliveries').select(['message_id', 'sent_at', 'email']).execute();
    const sentIds = new Set(smtp.messages().map((m) => header(m.headers, 'Message-ID')));
    expect(rows.every((r) => r.message_id && r.sent_at && sentIds.has(r.message_id))).toBe(true);
  }, 120_000);

  it('stamps every message with the sender, list and tracking headers and our envelope', () => {
    const message = smtp.messages().find((m) => m.to[0] === audience.confirmed[7])!;
    const h = (name: string) => header(message.headers, name);
    expect(message.from).toBe('bounces@example.org');
    expect(h('From')).toContain('news@example.org');
    expect(h('Subject')).toBeTruthy();
    expect(h('Date')).toMatch(/\d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}/);
    expect(h('Message-ID')).toMatch(/^<[^@>]+@example\.org>$/);
    expect(h('List-Id')).toContain('news');
    expect(h('List-Unsubscribe')).toMatch(/<https:\/\/news\.example\.org\/unsubscribe\/[^>]+>/);
    expect(h('List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    expect(h('Feedback-ID')).toBeTruthy();
    expect(h('X-Digestmail-Issue')).toBeTruthy();
    expect(h('Content-Type')).toMatch(/multipart\/alternative/);
  }, 120_000);

  it('sends a test to any address right now, marked [TEST], without recording a delivery', async () => {
    const before = smtp.messages().length;
    const deliveries = await db.db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const result = await runCliInProcess(
      ['issue', 'test', '1', '--to', 'editor@example.com,Second@Example.com'],
      env,
    );
    expect(result.code).toBe(0);
    const got = await smtp.waitFor(before + 2);
    const tests = got.slice(before);
    expect(tests.map((m) => m.to[0]).sort()).toEqual(['editor@example.com', 'second@example.com']);
    for (const m of tests)
      expect(decodeWords(header(m.headers, 'Subject')!)).toMatch(/^\[TEST\] Weekly Notes/);
    const after = await db.db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(deliveries.n);

    // A digest file that is not an issue yet can be tested too.
    const fromFile = await runCliInProcess(
      [
        'issue',
        'test',
        `${process.cwd()}/tests/fixtures/sender/2026-11-20-weekly-notes.md`,
        '--to',
        'editor@example.com',
      ],
      env,
    );
    expect(fromFile.code).toBe(0);
    await smtp.waitFor(before + 3);
  }, 120_000);
});
