import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyMail } from '../src/bounces/bounce.classifier.ts';
import { loadConfig } from '../src/config/config.loader.ts';
import { MessageBuilder } from '../src/render/message.builder.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { type SeededDelivery, seedIssue, snapshot } from './bounces.seed.ts';
import { runCli, runCliInProcess } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const SECRET = 'dsn-test-secret-0123456789abcdef0123456789';
const FIXTURES = new URL('./fixtures/dsn/', import.meta.url);

let database: TestDatabase;
let dir: string;
let builder: MessageBuilder;

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  dir = mkdtempSync(join(tmpdir(), 'dm-dsn-'));
  const config = loadConfig({
    SECRET_KEY: SECRET,
    DATA_DIR: dir,
    MAIL_FROM: 'AI Daily <news@news.example.org>',
    BOUNCE_ADDRESS: 'Bounces <bounces@news.example.org>',
    VERP: 'true',
  });
  builder = new MessageBuilder(config, new TokenSigner(SECRET));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await database?.close();
});

/** A fixture with the delivery's VERP address (or a plain one), recipient and Message-ID filled in. */
function dsn(name: string, d: SeededDelivery, options: { verp?: boolean } = {}): Buffer {
  const verp = options.verp === false ? 'bounces@news.example.org' : builder.envelopeFrom(d.id);
  const text = readFileSync(new URL(name, FIXTURES), 'utf8')
    .replaceAll('{{VERP}}', verp)
    .replaceAll('{{RECIPIENT}}', d.email)
    .replaceAll('{{RECIPIENT_LOCAL}}', d.email.split('@')[0]!)
    .replaceAll('{{MESSAGE_ID}}', d.messageId)
    .replaceAll('{{ISSUE_ID}}', String(d.issueId));
  return Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');
}

function ingest(raw: Buffer) {
  const file = join(dir, `in-${Math.random().toString(36).slice(2)}.eml`);
  writeFileSync(file, raw);
  return runCliInProcess(['bounces', 'ingest', file], { DATABASE_URL: database.url, SECRET_KEY: SECRET });
}

async function state(d: SeededDelivery) {
  const delivery = await database.db
    .selectFrom('deliveries')
    .selectAll()
    .where('id', '=', d.id)
    .executeTakeFirstOrThrow();
  const suppression = await database.db
    .selectFrom('suppressions')
    .selectAll()
    .where('email', '=', d.email)
    .executeTakeFirst();
  const events = await database.db.selectFrom('events').selectAll().where('email', '=', d.email).execute();
  return { delivery, suppression, events };
}

describe('parsing DSNs as real servers send them', () => {
  const d: SeededDelivery = {
    id: 7,
    email: 'gone@example.net',
    subscriberId: 1,
    issueId: 3,
    providerMessageId: 'x',
    messageId: '<3.7.abc@news.example.org>',
  };
  for (const [file, severity, status] of [
    ['postfix-user-unknown.eml', 'hard', '5.1.1'],
    ['exim-failed.eml', 'hard', '5.1.1'],
    ['exchange-recipient-not-found.eml', 'hard', '5.1.10'],
    ['gmail-550-5.1.1.eml', 'hard', '5.1.1'],
    ['postfix-mailbox-full-delayed.eml', 'soft', '4.2.2'],
  ] as const) {
    it(`${file}: one ${severity} bounce, status ${status}, with the original Message-ID`, async () => {
      const report = await classifyMail(dsn(file, d));
      expect(report.kind).toBe('bounce');
      if (report.kind !== 'bounce') return;
      expect(report.recipients).toHaveLength(1);
      expect(report.recipients[0]).toMatchObject({
        email: 'gone@example.net',
        suppresses: severity === 'hard',
        status,
      });
      expect(report.originalMessageId).toBe(d.messageId);
      expect(report.envelopeCandidates).toContain(builder.envelopeFrom(d.id));
    });
  }

  it('an out-of-office auto-reply is not a bounce', async () => {
    const report = await classifyMail(dsn('out-of-office.eml', d));
    expect(report).toMatchObject({ kind: 'autoreply' });
    if (report.kind === 'autoreply') expect(report.reason).toMatch(/automatic reply/);
  });
});

describe('digestmail bounces ingest', () => {
  it('a Postfix "user unknown" DSN found through its VERP address: the delivery bounces and the address is suppressed', async () => {
    const { deliveries } = await seedIssue(database.db, ['pf-gone@example.net']);
    const d = deliveries[0]!;
    const res = await ingest(dsn('postfix-user-unknown.eml', d));
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`hard bounce for ${d.email} (delivery ${d.id} of issue ${d.issueId})`);
    expect(res.stdout).toContain('suppressed (hard_bounce)');
    const s = await state(d);
    expect(s.delivery.status).toBe('bounced');
    expect(s.suppression?.reason).toBe('hard_bounce');
    expect(s.events).toHaveLength(1);
    expect(s.events[0]).toMatchObject({ type: 'hard_bounce', source: 'dsn', delivery_id: d.id });
    const status = await runCliInProcess(['issue', 'status', String(d.issueId), '--json'], {
      DATABASE_URL: database.url,
      SECRET_KEY: SECRET,
    });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).counts).toMatchObject({ total: 1, bounced: 1, sent: 0 });
  });

  for (const file of ['exim-failed.eml', 'exchange-recipient-not-found.eml', 'gmail-550-5.1.1.eml']) {
    it(`${file} without a VERP address is found through the returned Message-ID and suppresses`, async () => {
      const { deliveries } = await seedIssue(database.db, [`${file.split('-')[0]}-gone@example.net`]);
      const d = deliveries[0]!;
      const res = await ingest(dsn(file, d, { verp: false }));
      expect(res.code).toBe(0);
      expect(res.stdout).toContain('hard bounce');
      const s = await state(d);
      expect(s.delivery.status).toBe('bounced');
      expect(s.suppression?.reason).toBe('hard_bounce');
    });
  }

  it('a 4.2.2 mailbox-full delay is a soft bounce: recorded, not suppressed, the delivery keeps its status', async () => {
    const { deliveries } = await seedIssue(database.db, ['full@example.net']);
    const d = deliveries[0]!;
    const res = await ingest(dsn('postfix-mailbox-full-delayed.eml', d));
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`soft bounce for ${d.email}`);
    const s = await state(d);
    expect(s.events.map((e) => e.type)).toEqual(['soft_bounce']);
    expect(s.suppression).toBeUndefined();
    expect(s.delivery.status).toBe('sent');
  });

  it('an out-of-office auto-reply changes nothing', async () => {
    const { deliveries } = await seedIssue(database.db, ['away@example.net']);
    const before = await snapshot(database.db);
    const res = await ingest(dsn('out-of-office.eml', deliveries[0]!));
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^ignored: an automatic reply .*nothing changed/);
    expect(await snapshot(database.db)).toEqual(before);
  });

  it('the same DSN ingested twice is recorded once', async () => {
    const { deliveries } = await seedIssue(database.db, ['twice@example.net']);
    const raw = dsn('gmail-550-5.1.1.eml', deliveries[0]!);
    expect((await ingest(raw)).code).toBe(0);
    const before = await snapshot(database.db);
    const again = await ingest(raw);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already recorded, nothing changed');
    expect(await snapshot(database.db)).toEqual(before);
  });

  it('a DSN that names none of our deliveries (forged VERP token, unknown Message-ID) changes nothing', async () => {
    const { deliveries } = await seedIssue(database.db, ['target@example.net']);
    const d = deliveries[0]!;
    const forged = dsn(
      'postfix-user-unknown.eml',
      { ...d, messageId: '<not-ours@elsewhere.example>' },
      { verp: false },
    )
      .toString('utf8')
      .replaceAll(
        'bounces@news.example.org',
        `bounces+${Buffer.from('{"d":1}').toString('base64url')}.AAAA@news.example.org`,
      );
    const before = await snapshot(database.db);
    const res = await ingest(Buffer.from(forged));
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^ignored: no delivery of ours matches/);
    expect(await snapshot(database.db)).toEqual(before);
  });

  it('reads the message from stdin with "-"', async () => {
    const { deliveries } = await seedIssue(database.db, ['stdin@example.net']);
    const d = deliveries[0]!;
    const res = await runCli(
      ['bounces', 'ingest', '-'],
      { DATABASE_URL: database.url, SECRET_KEY: SECRET },
      {
        input: dsn('exim-failed.eml', d).toString('utf8'),
      },
    );
    expect(res.code).toBe(0);
    expect((await state(d)).suppression?.reason).toBe('hard_bounce');
  });

  it('bad input: a missing file, empty input, and something that is not a message each get one line and exit 2', async () => {
    const env = { DATABASE_URL: database.url, SECRET_KEY: SECRET };
    const missing = await runCliInProcess(['bounces', 'ingest', join(dir, 'nope.eml')], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toEqual([`digestmail: no such file: ${join(dir, 'nope.eml')}`]);
    const empty = await runCli(['bounces', 'ingest', '-'], env, { input: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr.trim()).toBe('digestmail: the message is empty');
    const junk = await runCli(['bounces', 'ingest', '-'], env, { input: 'just some words\nand more\n' });
    expect(junk.code).toBe(2);
    expect(junk.stderr.trim()).toBe('digestmail: the input is not an email message (no headers)');
  });
});
