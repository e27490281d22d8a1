import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyMail } from '../src/bounces/bounce.classifier.ts';
import { BouncesService } from '../src/bounces/bounces.service.ts';
import { loadConfig } from '../src/config/config.loader.ts';
import { MessageBuilder, parseVerpAddress } from '../src/render/message.builder.ts';
import { SubscribersService } from '../src/subscriptions/subscribers.service.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { seedIssue } from './bounces.seed.ts';
import { ADDRESS_REASONS, CORPUS_DIR, found, judge, loadCorpus } from './helpers/bounce-corpus.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

/**
 * Real bounce messages of 60 kinds of mail server (tests/fixtures/bounces/README.md says where each
 * comes from), each with the recipient, status and reason the reference classifier gives.
 */
const SECRET = 'corpus-test-secret-0123456789abcdef012345';
const corpus = loadCorpus();
/**
 * Samples where this classifier and the reference disagree today, with why (see the README's
 * agreement figures). They run as expected failures: one that starts agreeing fails here until it is
 * taken off the list, so the list can only shrink.
 */
const known = JSON.parse(readFileSync(join(CORPUS_DIR, 'known-differences.json'), 'utf8')) as Record<
  string,
  string
>;

describe('the classifier on real bounces, sample by sample', () => {
  for (const { sample, raw } of corpus) {
    sample.expected.forEach((expected, i) => {
      const key = `${sample.file}#${i + 1}`;
      const name = `${sample.server} ${sample.file} #${i + 1}: ${expected.recipient} ${expected.status || '(no status)'} ${expected.reason}`;
      const test = known[key] ? it.fails : it;
      test(name, async () => {
        const verdict = judge(expected, found(await classifyMail(raw)));
        expect({
          recipient: verdict.recipient,
          status: verdict.status,
          reason: verdict.reason,
          got: verdict.got,
        }).toMatchObject({
          recipient: true,
          status: true,
          reason: true,
        });
      });
    });
  }
});

describe('every corpus message ingested against a seeded delivery', () => {
  let database: TestDatabase;
  let builder: MessageBuilder;
  let service: BouncesService;
  const signer = new TokenSigner(SECRET);

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const config = loadConfig({
      SECRET_KEY: SECRET,
      DATA_DIR: '/tmp',
      MAIL_FROM: 'AI Daily <news@news.example.org>',
      BOUNCE_ADDRESS: 'Bounces <bounces@news.example.org>',
      VERP: 'true',
    });
    builder = new MessageBuilder(config, signer);
    service = new BouncesService(database.db, { softBounceLimit: 1000, softBounceDays: 30 }, (a) =>
      parseVerpAddress(a, SECRET),
    );
  });
  afterAll(async () => database?.close());

  /**
   * The one rewrite: the bounce's To: becomes the VERP address of a delivery we seed to the sample's
   * first expected recipient (bounces of our mail are sent to that address).
   */
  function addressedTo(raw: Buffer, verp: string): Buffer {
    const text = raw.toString('latin1');
    const end = text.search(/\r?\n\r?\n/);
    const head = text.slice(0, end).replace(/^To:[^\n]*(\n[ \t][^\n]*)*/im, `To: <${verp}>`);
    const withTo = /^To:/im.test(head) ? head : `To: <${verp}>\n${head}`;
    return Buffer.from(withTo + text.slice(end), 'latin1');
  }

  it('each bounce is matched to its delivery; only reasons about the address suppress, complaints suppress, auto-replies change nothing', async () => {
    const problems: string[] = [];
    for (const { sample, raw } of corpus) {
      const recipient = sample.expected[0]!.recipient.replace(/"/g, '');
      const mail = await classifyMail(raw);
      // Samples share recipients: each starts from a clean slate for its address.
      await database.db.deleteFrom('suppressions').where('email', '=', recipient).execute();
      await database.db.deleteFrom('events').where('email', '=', recipient).execute();
      const { deliveries } = await seedIssue(database.db, [recipient]);
      const d = deliveries[0]!;
      const outcome = await service.ingestMail(addressedTo(raw, builder.envelopeFrom(d.id)));
      const suppression = await database.db
        .selectFrom('suppressions')
        .selectAll()
        .where('email', '=', d.email)
        .executeTakeFirst();
      const events = await database.db
        .selectFrom('events')
        .selectAll()
        .where('delivery_id', '=', d.id)
        .execute();
      if (mail.kind === 'autoreply' || mail.kind === 'not_a_bounce') {
        if (outcome.result !== 'not_a_bounce' || suppression || events.length > 0)
          problems.push(`${sample.file}: ${mail.kind} changed something`);
        continue;
      }
      if (outcome.result !== 'processed' || events.length === 0) {
        // Several failed recipients and none of them is the seeded one: nothing may change.
        if (mail.kind === 'bounce' && mail.recipients.length > 1 && !suppression) continue;
        problems.push(`${sample.file}: ${outcome.result} ${'reason' in outcome ? outcome.reason : ''}`);
        continue;
      }
      const event = events[0]!;
      if (mail.kind === 'complaint') {
        if (event.type !== 'complaint' || suppression?.reason !== 'complaint')
          problems.push(`${sample.file}: complaint not applied`);
        continue;
      }
      const r =
        mail.recipients.length === 1
          ? mail.recipients[0]!
          : mail.recipients.find((x) => x.email === d.email)!;
      if (event.reason !== r.reason || event.status !== r.status)
        problems.push(
          `${sample.file}: event ${event.reason} ${event.status}, classified ${r.reason} ${r.status}`,
        );
      if (event.email !== d.email) problems.push(`${sample.file}: acted on ${event.email}, not ${d.email}`);
      const shouldSuppress = ADDRESS_REASONS.has(r.reason) && r.action === 'failed';
      if (Boolean(suppression) !== shouldSuppress)
        problems.push(`${sample.file}: ${r.reason} suppressed=${Boolean(suppression)}`);
    }
    expect(problems).toEqual([]);
  }, 600_000);
});

describe('a forged bounce after a reader is erased (issue 11)', () => {
  let database: TestDatabase;
  let builder: MessageBuilder;
  let service: BouncesService;
  const signer = new TokenSigner(SECRET);

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    builder = new MessageBuilder(
      loadConfig({
        SECRET_KEY: SECRET,
        DATA_DIR: '/tmp',
        MAIL_FROM: 'n <news@news.example.org>',
        VERP: 'true',
      }),
      signer,
    );
    service = new BouncesService(database.db, { softBounceLimit: 3, softBounceDays: 30 }, (a) =>
      parseVerpAddress(a, SECRET),
    );
  });
  afterAll(async () => database?.close());

  const forged = (messageId: string, victim: string) =>
    Buffer.from(
      [
        'From: MAILER-DAEMON@mx.example.net',
        'To: bounces@news.example.org',
        'Subject: Undelivered Mail Returned to Sender',
        'Message-Id: <forged-1@mx.example.net>',
        'MIME-Version: 1.0',
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        '',
        '--b',
        'Content-Type: text/plain',
        '',
        'Your message could not be delivered.',
        '--b',
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns; mx.example.net',
        '',
        `Final-Recipient: rfc822; ${victim}`,
        'Action: failed',
        'Status: 5.1.1',
        'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
        '--b',
        'Content-Type: text/rfc822-headers',
        '',
        `Message-ID: ${messageId}`,
        'Subject: AI Daily',
        '--b--',
        '',
      ].join('\r\n'),
    );

  it('a DSN quoting the Message-ID of an erased reader’s delivery suppresses nobody', async () => {
    const { deliveries } = await seedIssue(database.db, ['erased@example.net', 'victim@example.net']);
    const [erased] = deliveries;
    await new SubscribersService(database.db).remove('erased@example.net');
    const outcome = await service.ingestMail(forged(erased!.messageId, 'victim@example.net'));
    expect(outcome).toMatchObject({ result: 'unmatched' });
    expect(
      await database.db
        .selectFrom('suppressions')
        .selectAll()
        .where('email', '=', 'victim@example.net')
        .executeTakeFirst(),
    ).toBeUndefined();
    // Nor a never-mailed address.
    await service.ingestMail(forged(erased!.messageId, 'never-mailed@example.org'));
    expect(
      await database.db
        .selectFrom('suppressions')
        .selectAll()
        .where('email', '=', 'never-mailed@example.org')
        .executeTakeFirst(),
    ).toBeUndefined();
  });

  it('a bounce matched to a delivery acts on that delivery’s address only, whatever address it names', async () => {
    const { deliveries } = await seedIssue(database.db, ['reader@example.net', 'bystander@example.net']);
    const reader = deliveries[0]!;
    const raw = forged(reader.messageId, 'bystander@example.net');
    const outcome = await service.ingestMail(raw);
    expect(outcome).toMatchObject({ result: 'processed' });
    const suppressed = await database.db
      .selectFrom('suppressions')
      .select('email')
      .where('email', 'in', ['reader@example.net', 'bystander@example.net'])
      .execute();
    expect(suppressed.map((s) => s.email)).toEqual(['reader@example.net']);
    expect(builder.envelopeFrom(reader.id)).toContain('@');
  });
});
