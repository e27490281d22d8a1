import { simpleParser } from 'mailparser';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { OutboxRepository } from '../src/subscriptions/outbox.repository.ts';
import { OutboxSender } from '../src/delivery/outbox.sender.ts';
import { SignupService } from '../src/subscriptions/signup.service.ts';
import type { HandedOverMail } from '../src/subscriptions/system-mail.service.ts';
import { readConfirm } from '../src/core/reader-tokens.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { createTransport } from '../src/transports/transport.factory.ts';
import { TEST_SECRET, testConfig } from './helpers/http-app.ts';
import { header, startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';
import { createTestDatabase, type TestDatabase, truncateAll } from './helpers/test-db.ts';

let db: TestDatabase;
let smtp: TestSmtpServer;
const signer = new TokenSigner(TEST_SECRET);
let listId: number;

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  smtp = await startSmtpServer({ keepRaw: true, rejectAddresses: ['nobody@example.com'] });
});
afterAll(async () => {
  await smtp.close();
  await db.close();
});
beforeEach(async () => {
  await truncateAll(db);
  listId = (await new ListsService(db.db).create({ slug: 'ai', name: 'AI 日报', language: 'zh-CN' })).id;
});

function sender(overrides: Record<string, string> = {}, idleMs?: number) {
  const config = testConfig({ MAIL_URL: smtp.url, PUBLIC_URL: 'https://news.example.org', ...overrides });
  const transport = createTransport(config);
  return {
    sender: new OutboxSender({ db: db.db, config, transport, signer, retryBaseSeconds: 1, idleMs }),
    close: () => transport.close(),
  };
}

/** A signup as serve makes it: its confirmation mail written leased and handed to `take`. */
function signupWithHandOff(take: (mail: HandedOverMail) => void, email: string) {
  const service = new SignupService(db.db, signer, testConfig(), { take, leaseSeconds: 30 });
  return service.signup({
    email,
    name: 'Stranger',
    listIds: [],
    ip: '192.0.2.1',
    lang: 'en',
    trap: undefined,
  });
}

async function queue(email: string, kind: 'confirm' | 'welcome' | 'goodbye' = 'confirm', lang = 'en') {
  const sub = await db.db
    .insertInto('subscribers')
    .values({ email, name: 'Ana' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db.db
    .insertInto('subscriptions')
    .values({ subscriber_id: sub.id, list_id: listId, status: 'pending' })
    .execute();
  await new OutboxRepository(db.db).enqueue(kind, email, sub.id, { lists: [listId], lang });
  return sub.id;
}

const rows = () =>
  db.db
    .selectFrom('outbox')
    .select(['id', 'to_email', 'status', 'attempts', 'last_error', 'message_id'])
    .orderBy('id')
    .execute();

describe('outbox sender', () => {
  it('sends a confirmation mail over SMTP whose link carries a confirm token for the subscriber and lists', async () => {
    const before = smtp.messages().length;
    const id = await queue('ana@example.com', 'confirm', 'zh-CN');
    const s = sender();
    expect(await s.sender.drainOnce()).toBe(1);
    await s.close();
    const [message] = (await smtp.waitFor(before + 1)).slice(before);
    expect(message!.to).toEqual(['ana@example.com']);
    const parsed = await simpleParser(message!.raw!);
    const link = /https:\/\/news\.example\.org\/confirm\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\?lang=zh-CN/.exec(
      parsed.text ?? '',
    );
    expect(link).not.toBeNull();
    const [queued] = await rows();
    // the link names its mail: confirming applies that signup's name, and only that (issue 11.2)
    expect(readConfirm(signer, link![1]!)).toEqual({
      subscriberId: id,
      listIds: [listId],
      confirmationId: queued!.id,
    });
    expect(parsed.text).toContain('AI 日报');
    const [row] = await rows();
    expect(row).toMatchObject({
      status: 'sent',
      attempts: 1,
      message_id: header(message!.headers, 'Message-ID'),
    });
  });

  it('a confirmation mail carries no text a stranger chose: no name, in either part (issue 11.2)', async () => {
    const before = smtp.messages().length;
    const words = 'Your account is locked. Restore it at https://evil.example/restore';
    const sub = await db.db
      .insertInto('subscribers')
      .values({ email: 'victim@example.com', name: words })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db.db
      .insertInto('subscriptions')
      .values({ subscriber_id: sub.id, list_id: listId, status: 'pending' })
      .execute();
    await new OutboxRepository(db.db).enqueue('confirm', 'victim@example.com', sub.id, {
      lists: [listId],
      lang: 'en',
    });
    const s = sender();
    expect(await s.sender.drainOnce()).toBe(1);
    await s.close();
    const [message] = (await smtp.waitFor(before + 1)).slice(before);
    const raw = String(message!.raw!);
    const parsed = await simpleParser(message!.raw!);
    for (const part of [parsed.text ?? '', String(parsed.html), parsed.subject ?? '', raw]) {
      expect(part).not.toContain('account is locked');
      expect(part).not.toContain('evil.example');
    }
    expect(parsed.text).toContain('Hi there,');
  });

  it('a welcome mail carries a preferences and an unsubscribe link', async () => {
    const before = smtp.messages().length;
    await queue('ben@example.com', 'welcome');
    const s = sender();
    await s.sender.drainOnce();
    await s.close();
    const [message] = (await smtp.waitFor(before + 1)).slice(before);
    const text = (await simpleParser(message!.raw!)).text ?? '';
    expect(text).toMatch(/https:\/\/news\.example\.org\/preferences\/[A-Za-z0-9_.-]+/);
    expect(text).toMatch(/https:\/\/news\.example\.org\/unsubscribe\/[A-Za-z0-9_.-]+/);
    // once confirmed, the reader's own name greets them
    expect(text).toContain('Hi Ana,');
  });

  it('a 5xx answer fails the mail for good; it is not retried', async () => {
    await queue('nobody@example.com');
    const s = sender();
    await s.sender.drainOnce();
    await s.close();
    const [row] = await rows();
    expect(row!.status).toBe('failed');
    expect(row!.last_error).toMatch(/5\d\d|reject|permanent/i);
  });

  it('a relay that is down leaves the mail pending with backoff, and it goes once the relay is back', async () => {
    await queue('cai@example.com');
    const down = sender({ MAIL_URL: 'smtp://127.0.0.1:9' });
    await down.sender.drainOnce();
    await down.close();
    const [row] = await rows();
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row!.last_error).toBeTruthy();
    const waiting = await db.db
      .selectFrom('outbox')
      .select(sql<boolean>`next_attempt_at > now()`.as('later'))
      .executeTakeFirstOrThrow();
    expect(waiting.later).toBe(true);
    await db.db.updateTable('outbox').set({ next_attempt_at: sql`now()` }).execute();
    const up = sender();
    await up.sender.drainOnce();
    await up.close();
    expect((await rows())[0]).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('gives up after MAX_ATTEMPTS of refusals, but never because the relay could not be reached', async () => {
    await queue('dan@example.com');
    await db.db.updateTable('outbox').set({ attempts: 2 }).execute();
    const down = sender({ MAIL_URL: 'smtp://127.0.0.1:9', MAX_ATTEMPTS: '3' });
    await down.sender.drainOnce();
    await down.close();
    expect((await rows())[0]).toMatchObject({ status: 'pending', attempts: 3 });

    await db.db.updateTable('outbox').set({ next_attempt_at: sql`now()` }).execute();
    const busy = await startSmtpServer({ transientRate: 1 }); // 451 to every message
    try {
      const refusing = sender({ MAIL_URL: busy.url, MAX_ATTEMPTS: '3' });
      await refusing.sender.drainOnce();
      await refusing.close();
    } finally {
      await busy.close();
    }
    expect((await rows())[0]).toMatchObject({ status: 'failed', attempts: 4 });
  });

  it('never mails an address suppressed after the mail was queued', async () => {
    const before = smtp.messages().length;
    await queue('eve@example.com');
    await db.db
      .insertInto('suppressions')
      .values({ email: 'eve@example.com', reason: 'complaint' })
      .execute();
    const s = sender();
    await s.sender.drainOnce();
    await s.close();
    expect((await rows())[0]).toMatchObject({
      status: 'failed',
      last_error: 'the address is suppressed (complaint)',
    });
    expect(smtp.messages().length).toBe(before);
  });

  it('two senders draining at once send every mail exactly once; a lapsed lease is taken over', async () => {
    const before = smtp.messages().length;
    for (let i = 0; i < 24; i++) await queue(`r${i}@example.com`);
    // one row was claimed by a sender that died: its lease has run out
    await db.db
      .updateTable('outbox')
      .set({ status: 'sending', attempts: 1, lease_until: sql`now() - interval '1 second'` })
      .where('to_email', '=', 'r0@example.com')
      .execute();
    const a = sender();
    const b = sender();
    const drain = async (s: OutboxSender) => {
      while ((await s.drainOnce()) > 0) {}
    };
    await Promise.all([drain(a.sender), drain(b.sender)]);
    await Promise.all([a.close(), b.close()]);
    const received = (await smtp.waitFor(before + 24)).slice(before);
    const recipients = received.map((m) => m.to[0]!).sort();
    expect(new Set(recipients).size).toBe(24);
    expect(recipients).toHaveLength(24);
    expect((await rows()).every((r) => r.status === 'sent')).toBe(true);
  });

  it('start() sends what is queued and stop() returns once the loop has ended', async () => {
    const before = smtp.messages().length;
    await queue('loop@example.com');
    const s = sender();
    s.sender.start();
    await smtp.waitFor(before + 1, 20_000);
    await s.sender.stop();
    await s.close();
    expect((await rows())[0]!.status).toBe('sent');
  });

  it('a confirmation handed over by its signup is sent at once without a claim, and recorded sent on its first attempt', async () => {
    const before = smtp.messages().length;
    // The claim loop looks once at start, then sleeps an hour: only the hand-off can send the mail.
    const s = sender({}, 3_600_000);
    s.sender.start();
    const outcome = await signupWithHandOff((mail) => s.sender.take(mail), 'handed@example.com');
    expect(outcome).toMatchObject({ handedOver: true, confirmQueued: [listId] });
    const [message] = (await smtp.waitFor(before + 1)).slice(before);
    await s.sender.stop();
    await s.close();
    expect(message!.to).toEqual(['handed@example.com']);
    const parsed = await simpleParser(message!.raw!);
    expect(parsed.text).not.toContain('Stranger');
    const token = /\/confirm\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/.exec(parsed.text ?? '')![1]!;
    expect(readConfirm(signer, token)).toEqual({
      subscriberId: outcome!.subscriberId,
      listIds: [listId],
      confirmationId: outcome!.confirmMailId,
    });
    expect(await rows()).toEqual([
      expect.objectContaining({
        id: outcome!.confirmMailId,
        status: 'sent',
        attempts: 1,
        message_id: header(message!.headers, 'Message-ID'),
      }),
    ]);
  });

  it('a hand-off reached past half its lease is left alone; once the lease runs out a claim sends it, once', async () => {
    const before = smtp.messages().length;
    let handed: HandedOverMail | undefined;
    await signupWithHandOff((mail) => {
      handed = mail;
    }, 'late@example.com');
    const s = sender();
    s.sender.start();
    // Handed over 20 s ago with a 30 s lease: a claim may take it soon, so the hand-off must not.
    s.sender.take({ ...handed!, handedAt: Date.now() - 20_000 });
    await s.sender.stop();
    expect(smtp.messages().length).toBe(before);
    expect((await rows())[0]).toMatchObject({ status: 'sending', attempts: 1 });
    // A stopped sender takes nothing handed to it.
    s.sender.take(handed!);
    await s.sender.stop();
    expect(smtp.messages().length).toBe(before);
    await db.db.updateTable('outbox').set({ lease_until: sql`now() - interval '1 second'` }).execute();
    expect(await s.sender.drainOnce()).toBe(1);
    await s.close();
    expect((await smtp.waitFor(before + 1)).slice(before).map((m) => m.to)).toEqual([['late@example.com']]);
    expect((await rows())[0]).toMatchObject({ status: 'sent', attempts: 2 });
  });
});
