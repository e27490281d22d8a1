import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { webhookRoutes } from '../src/http/webhooks.routes.ts';
import { seedIssue, snapshot } from './bounces.seed.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';
import {
  type CertServer,
  createTestPki,
  notification,
  sesFixture,
  signSns,
  startCertServer,
  TOPIC_ARN,
  type TestPki,
} from './sns.signer.ts';

/** The AWS host rule stays in force; 127.0.0.1 is added so the test's own HTTPS server is allowed. */
const HOST_PATTERN = '^(127\\.0\\.0\\.1|sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?)$';

let database: TestDatabase;
let pki: TestPki;
let certs: CertServer;
let app: FastifyInstance;

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  pki = createTestPki();
  certs = await startCertServer(pki);
  app = Fastify({ logger: false });
  await app.register(webhookRoutes, {
    db: database.db,
    config: {
      SNS_TOPIC_ARNS: [TOPIC_ARN],
      SNS_CERT_HOST_PATTERN: HOST_PATTERN,
      SOFT_BOUNCE_LIMIT: 3,
      SOFT_BOUNCE_DAYS: 30,
    },
    snsCa: pki.caPem,
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await certs?.close();
  pki?.remove();
  await database?.close();
});

function post(body: unknown, contentType = 'text/plain; charset=UTF-8') {
  return app.inject({
    method: 'POST',
    url: '/webhooks/ses',
    headers: { 'content-type': contentType, 'x-amz-sns-message-type': 'Notification' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function values(
  d: { email: string; providerMessageId: string; id?: number; issueId?: number },
  extra: Record<string, string> = {},
) {
  return {
    EMAIL: d.email,
    SES_MESSAGE_ID: d.providerMessageId,
    FEEDBACK_ID: randomUUID(),
    TIMESTAMP: new Date().toISOString(),
    ISSUE_ID: String(d.issueId ?? 1),
    DELIVERY_ID: String(d.id ?? 0),
    ...extra,
  };
}

const signed = (
  message: unknown,
  options: { version?: '1' | '2'; messageId?: string; timestamp?: Date; topicArn?: string } = {},
) => notification(message, { key: pki.signingKey, certUrl: certs.certUrl, ...options });

async function delivery(id: number) {
  return database.db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function suppression(email: string) {
  return database.db.selectFrom('suppressions').selectAll().where('email', '=', email).executeTakeFirst();
}

describe('SNS notifications that pass every check', () => {
  it('a Permanent bounce signed with SignatureVersion 1 (SHA1withRSA) marks the delivery bounced and suppresses the address', async () => {
    const { deliveries } = await seedIssue(database.db, ['gone@example.net']);
    const d = deliveries[0]!;
    const bounce = sesFixture(
      'bounce',
      values(d, {
        BOUNCE_TYPE: 'Permanent',
        BOUNCE_SUBTYPE: 'NoEmail',
        STATUS: '5.1.1',
        DIAGNOSTIC: 'user unknown',
      }),
    );
    const res = await post(signed(bounce, { version: '1' }));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ result: 'processed', kind: 'Bounce', events: 1 });
    expect((await delivery(d.id)).status).toBe('bounced');
    expect(await suppression('gone@example.net')).toMatchObject({ reason: 'hard_bounce' });
    const events = await database.db
      .selectFrom('events')
      .selectAll()
      .where('delivery_id', '=', d.id)
      .execute();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'hard_bounce',
      source: 'ses',
      email: 'gone@example.net',
      issue_id: d.issueId,
    });
  });

  it('a message signed with SignatureVersion 2 (SHA256withRSA) is accepted the same way', async () => {
    const { deliveries } = await seedIssue(database.db, ['v2-gone@example.net']);
    const d = deliveries[0]!;
    const bounce = sesFixture(
      'bounce',
      values(d, {
        BOUNCE_TYPE: 'Permanent',
        BOUNCE_SUBTYPE: 'General',
        STATUS: '5.1.1',
        DIAGNOSTIC: 'no such user',
      }),
    );
    const res = await post(signed(bounce, { version: '2' }));
    expect(res.statusCode).toBe(200);
    expect((await delivery(d.id)).status).toBe('bounced');
    expect(await suppression('v2-gone@example.net')).toMatchObject({ reason: 'hard_bounce' });
  });

  it('every bounce type and subtype is recorded: Permanent is hard and suppresses, Transient and Undetermined are soft', async () => {
    const cases = [
      ['Undetermined', 'Undetermined', '4.0.0', 'soft_bounce'],
      ['Permanent', 'General', '5.1.1', 'hard_bounce'],
      ['Permanent', 'NoEmail', '5.1.1', 'hard_bounce'],
      ['Permanent', 'Suppressed', '5.1.1', 'hard_bounce'],
      ['Permanent', 'OnAccountSuppressionList', '5.1.1', 'hard_bounce'],
      ['Transient', 'General', '4.4.7', 'soft_bounce'],
      ['Transient', 'MailboxFull', '4.2.2', 'soft_bounce'],
      ['Transient', 'MessageTooLarge', '5.3.4', 'soft_bounce'],
      ['Transient', 'ContentRejected', '5.7.1', 'soft_bounce'],
      ['Transient', 'AttachmentRejected', '5.7.1', 'soft_bounce'],
    ] as const;
    const emails = cases.map((_, i) => `type-${i}@example.net`);
    const { deliveries } = await seedIssue(database.db, emails);
    for (const [i, [type, subtype, status, expected]] of cases.entries()) {
      const d = deliveries[i]!;
      const bounce = sesFixture(
        'bounce',
        values(d, {
          BOUNCE_TYPE: type,
          BOUNCE_SUBTYPE: subtype,
          STATUS: status,
          DIAGNOSTIC: `${type} ${subtype}`,
        }),
      );
      const res = await post(signed(bounce));
      expect(res.statusCode, `${type}/${subtype}`).toBe(200);
      const event = await database.db
        .selectFrom('events')
        .selectAll()
        .where('delivery_id', '=', d.id)
        .executeTakeFirstOrThrow();
      expect(event.type, `${type}/${subtype}`).toBe(expected);
      expect(event.detail).toContain(`${type}/${subtype}`);
      expect((await delivery(d.id)).status).toBe('bounced');
      // One soft bounce is below SOFT_BOUNCE_LIMIT (3): only hard bounces suppress at once.
      expect((await suppression(d.email))?.reason, `${type}/${subtype}`).toBe(
        expected === 'hard_bounce' ? 'hard_bounce' : undefined,
      );
    }
  });

  it('a complaint unsubscribes the reader from every list and suppresses the address', async () => {
    const { deliveries, listIds } = await seedIssue(database.db, ['angry@example.net', 'happy@example.net'], {
      lists: ['complaint-a', 'complaint-b'],
    });
    const [angry, happy] = deliveries as [(typeof deliveries)[0], (typeof deliveries)[0]];
    const res = await post(signed(sesFixture('complaint', values(angry))));
    expect(res.statusCode).toBe(200);
    expect((await delivery(angry.id)).status).toBe('complained');
    expect(await suppression('angry@example.net')).toMatchObject({ reason: 'complaint' });
    const subs = await database.db
      .selectFrom('subscriptions')
      .selectAll()
      .where('list_id', 'in', listIds)
      .execute();
    for (const s of subs.filter((s) => s.subscriber_id === angry.subscriberId)) {
      expect(s.status).toBe('unsubscribed');
      expect(s.unsubscribed_at).not.toBeNull();
    }
    expect(subs.filter((s) => s.subscriber_id === angry.subscriberId)).toHaveLength(2);
    expect(
      subs.filter((s) => s.subscriber_id === happy.subscriberId).every((s) => s.status === 'confirmed'),
    ).toBe(true);
    expect(await suppression('happy@example.net')).toBeUndefined();
  });

  it('a Delivery sets delivered_at, and a Delivery that arrives after a Bounce does not undo it', async () => {
    const { deliveries } = await seedIssue(database.db, ['arrived@example.net', 'late@example.net']);
    const [arrived, late] = deliveries as [(typeof deliveries)[0], (typeof deliveries)[0]];
    expect((await post(signed(sesFixture('delivery', values(arrived))))).statusCode).toBe(200);
    const delivered = await delivery(arrived.id);
    expect(delivered.status).toBe('delivered');
    expect(delivered.delivered_at).toBeInstanceOf(Date);

    const bounce = sesFixture(
      'bounce',
      values(late, {
        BOUNCE_TYPE: 'Permanent',
        BOUNCE_SUBTYPE: 'General',
        STATUS: '5.1.1',
        DIAGNOSTIC: 'gone',
      }),
    );
    expect((await post(signed(bounce))).statusCode).toBe(200);
    expect((await post(signed(sesFixture('delivery', values(late))))).statusCode).toBe(200);
    const bounced = await delivery(late.id);
    expect(bounced.status).toBe('bounced');
    expect(bounced.delivered_at).toBeNull();
    expect(await suppression('late@example.net')).toMatchObject({ reason: 'hard_bounce' });
  });

  it('a notification naming several recipients acts only on the address of the delivery it matched, and unknown fields are ignored', async () => {
    const { deliveries } = await seedIssue(database.db, ['first@example.net']);
    const d = deliveries[0]!;
    const bounce = sesFixture('bounce-two-recipients', values(d, { EMAIL2: 'Second@Example.NET' }));
    const res = await post(signed(bounce));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ events: 2 });
    expect(await suppression('first@example.net')).toMatchObject({ reason: 'hard_bounce' });
    // The message was our delivery to first@; a second address in the same notification is not
    // proven to be anyone we mailed (issue 11).
    expect(await suppression('second@example.net')).toBeUndefined();
  });

  it('configuration-set events (eventType) are handled like identity notifications; an Open event changes nothing', async () => {
    const { deliveries } = await seedIssue(database.db, [
      'evt-bounce@example.net',
      'evt-complaint@example.net',
      'evt-delivery@example.net',
    ]);
    const [b, c, dl] = deliveries as [(typeof deliveries)[0], (typeof deliveries)[0], (typeof deliveries)[0]];
    expect((await post(signed(sesFixture('event-bounce', values(b))))).statusCode).toBe(200);
    expect((await post(signed(sesFixture('event-complaint', values(c))))).statusCode).toBe(200);
    expect((await post(signed(sesFixture('event-delivery', values(dl))))).statusCode).toBe(200);
    expect((await delivery(b.id)).status).toBe('bounced');
    expect((await delivery(c.id)).status).toBe('complained');
    expect((await delivery(dl.id)).status).toBe('delivered');
    expect(await suppression('evt-complaint@example.net')).toMatchObject({ reason: 'complaint' });

    const before = await snapshot(database.db);
    const open = await post(signed(sesFixture('event-open', values(dl))));
    expect(open.statusCode).toBe(200);
    expect(open.json()).toMatchObject({ result: 'processed', kind: 'Open', events: 0 });
    const after = (await snapshot(database.db)) as { sns: unknown[] };
    expect({ ...after, sns: (before as { sns: unknown[] }).sns }).toEqual(before);
  });

  it('an event whose delivery is found only through our delivery tag (configuration-set shape) still lands on it', async () => {
    const { deliveries } = await seedIssue(database.db, ['tagged@example.net']);
    const d = deliveries[0]!;
    const event = sesFixture('event-bounce', values(d, { SES_MESSAGE_ID: 'not-stored-yet' }));
    expect((await post(signed(event))).statusCode).toBe(200);
    expect((await delivery(d.id)).status).toBe('bounced');
  });
});

describe('the signed fields', () => {
  it('a Subject, when present, is part of what is signed', async () => {
    const { deliveries } = await seedIssue(database.db, ['subject@example.net']);
    const d = deliveries[0]!;
    const unsigned = notification(sesFixture('delivery', values(d)), {
      key: pki.signingKey,
      certUrl: certs.certUrl,
    });
    const { Signature: _s, SignatureVersion: _v, ...fields } = unsigned;
    const withSubject = signSns(
      { ...fields, Subject: 'Amazon SES Email Event Notification' },
      pki.signingKey,
      '2',
    );
    const before = await snapshot(database.db);
    const changed = await post({ ...withSubject, Subject: 'Something else' });
    expect(changed.statusCode).toBe(403);
    expect(changed.json().error).toBe('webhooks.bad_signature');
    expect(await snapshot(database.db)).toEqual(before);
    expect((await post(withSubject)).statusCode).toBe(200);
    expect((await delivery(d.id)).status).toBe('delivered');
  });
});

describe('replays', () => {
  for (const [kind, fixture, extra] of [
    [
      'a soft bounce',
      'bounce',
      { BOUNCE_TYPE: 'Transient', BOUNCE_SUBTYPE: 'MailboxFull', STATUS: '4.2.2', DIAGNOSTIC: 'full' },
    ],
    [
      'a hard bounce',
      'bounce',
      { BOUNCE_TYPE: 'Permanent', BOUNCE_SUBTYPE: 'General', STATUS: '5.1.1', DIAGNOSTIC: 'gone' },
    ],
    ['a complaint', 'complaint', {}],
    ['a delivery', 'delivery', {}],
    ['two recipients', 'bounce-two-recipients', { EMAIL2: 'other-twice@example.net' }],
  ] as const) {
    it(`the same SNS message posted twice is processed once: ${kind}`, async () => {
      const { deliveries } = await seedIssue(database.db, [`twice-${randomUUID().slice(0, 6)}@example.net`]);
      const d = deliveries[0]!;
      const message = signed(sesFixture(fixture, values(d, extra)));
      expect((await post(message)).json()).toMatchObject({ result: 'processed' });
      const before = await snapshot(database.db);
      for (let i = 0; i < 3; i++) {
        const again = await post(message);
        expect(again.statusCode).toBe(200);
        expect(again.json()).toEqual({ result: 'duplicate' });
      }
      expect(await snapshot(database.db)).toEqual(before);
      const events = await database.db
        .selectFrom('events')
        .select('id')
        .where('email', '=', d.email)
        .execute();
      expect(events).toHaveLength(1);
    });
  }

  it('the same bounce delivered under a second SNS MessageId (SES publishing to two topics) is recorded once', async () => {
    const { deliveries } = await seedIssue(database.db, ['two-topics@example.net']);
    const d = deliveries[0]!;
    const bounce = sesFixture(
      'bounce',
      values(d, {
        BOUNCE_TYPE: 'Transient',
        BOUNCE_SUBTYPE: 'General',
        STATUS: '4.4.7',
        DIAGNOSTIC: 'timeout',
      }),
    );
    expect((await post(signed(bounce))).statusCode).toBe(200);
    expect((await post(signed(bounce))).statusCode).toBe(200);
    const events = await database.db.selectFrom('events').select('id').where('email', '=', d.email).execute();
    expect(events).toHaveLength(1);
  });

  it('notifications posted all at once, the same message among them twice, are each applied once and answered once on disk', async () => {
    const { deliveries } = await seedIssue(
      database.db,
      Array.from({ length: 12 }, (_, i) => `at-once-${i}-${randomUUID().slice(0, 6)}@example.net`),
    );
    const bounce = {
      BOUNCE_TYPE: 'Permanent',
      BOUNCE_SUBTYPE: 'General',
      STATUS: '5.1.1',
      DIAGNOSTIC: 'gone',
    };
    const messages = deliveries.map((d, i) =>
      signed(i % 2 === 0 ? sesFixture('delivery', values(d)) : sesFixture('bounce', values(d, bounce))),
    );
    const answers = await Promise.all([...messages, messages[3]].map((m) => post(m)));
    expect(answers.map((a) => a.statusCode)).toEqual(answers.map(() => 200));
    const results = answers.map((a) => a.json().result);
    expect(results.filter((r) => r === 'duplicate')).toHaveLength(1);
    expect([results[3], results[12]].sort()).toEqual(['duplicate', 'processed']);
    const rows = await database.db
      .selectFrom('deliveries')
      .select(['id', 'status'])
      .where(
        'id',
        'in',
        deliveries.map((d) => d.id),
      )
      .orderBy('id')
      .execute();
    expect(rows.map((r) => r.status)).toEqual(
      deliveries.map((_, i) => (i % 2 === 0 ? 'delivered' : 'bounced')),
    );
    const events = await database.db
      .selectFrom('events')
      .select('email')
      .where(
        'email',
        'in',
        deliveries.map((d) => d.email),
      )
      .execute();
    expect(events).toHaveLength(deliveries.length);
  });
});

describe('subscription and certificates', () => {
  it('a SubscriptionConfirmation is confirmed by fetching its SubscribeURL, once however often it is posted', async () => {
    const fields = sesFixture('subscription-confirmation', {
      MESSAGE_ID: randomUUID(),
      TOPIC_ARN,
      ORIGIN: certs.origin,
      CERT_URL: certs.certUrl,
      TIMESTAMP: new Date().toISOString(),
    }) as Record<string, string>;
    const message = signSns(fields, pki.signingKey, '1');
    const before = certs.hits('/confirm');
    const res = await post(message);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ result: 'subscribed' });
    expect(certs.hits('/confirm')).toBe(before + 1);
    expect((await post(message)).json()).toEqual({ result: 'duplicate' });
    expect(certs.hits('/confirm')).toBe(before + 1);
  });

  it('a SubscriptionConfirmation whose SubscribeURL is not on an SNS host is refused and not fetched', async () => {
    const fields = sesFixture('subscription-confirmation', {
      MESSAGE_ID: randomUUID(),
      TOPIC_ARN,
      ORIGIN: 'https://sns.us-east-1.amazonaws.com.evil.com',
      CERT_URL: certs.certUrl,
      TIMESTAMP: new Date().toISOString(),
    }) as Record<string, string>;
    const before = await snapshot(database.db);
    const res = await post(signSns(fields, pki.signingKey, '1'));
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('webhooks.bad_cert_url');
    expect(await snapshot(database.db)).toEqual(before);
  });

  it('the signing certificate is fetched once and then served from the cache', async () => {
    const { deliveries } = await seedIssue(database.db, [
      'c1@example.net',
      'c2@example.net',
      'c3@example.net',
    ]);
    for (const d of deliveries)
      expect((await post(signed(sesFixture('delivery', values(d))))).statusCode).toBe(200);
    expect(certs.hits('/SimpleNotificationService-test.pem')).toBe(1);
  });
});

describe('forged, broken or stale messages get a 4xx and change nothing', () => {
  let target: Awaited<ReturnType<typeof seedIssue>>['deliveries'][number];
  let bounce: Record<string, unknown>;
  let before: unknown;

  beforeEach(async () => {
    const seeded = await seedIssue(database.db, [`victim-${randomUUID().slice(0, 6)}@example.net`]);
    target = seeded.deliveries[0]!;
    bounce = sesFixture(
      'bounce',
      values(target, {
        BOUNCE_TYPE: 'Permanent',
        BOUNCE_SUBTYPE: 'General',
        STATUS: '5.1.1',
        DIAGNOSTIC: 'forged',
      }),
    );
    before = await snapshot(database.db);
  });

  async function expectRejected(res: Awaited<ReturnType<typeof post>>, status: number, code: string) {
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error: code });
    expect(res.json().message).toMatch(/\S/);
    expect(await snapshot(database.db)).toEqual(before);
  }

  it('a changed byte in Message', async () => {
    const message = signed(bounce);
    const tampered = { ...message, Message: message.Message!.replace('Permanent', 'Permanenu') };
    await expectRejected(await post(tampered), 403, 'webhooks.bad_signature');
  });

  it('a wrong SignatureVersion: a v1 signature claimed as v2, and a version that does not exist', async () => {
    const message = signed(bounce, { version: '1' });
    await expectRejected(await post({ ...message, SignatureVersion: '2' }), 403, 'webhooks.bad_signature');
    await expectRejected(
      await post({ ...message, SignatureVersion: '3' }),
      403,
      'webhooks.bad_signature_version',
    );
  });

  it('an http: certificate URL', async () => {
    const message = signed(bounce);
    await expectRejected(
      await post({
        ...message,
        SigningCertURL: 'http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem',
      }),
      403,
      'webhooks.bad_cert_url',
    );
  });

  it('a certificate on sns.evil.com', async () => {
    await expectRejected(
      await post({
        ...signed(bounce),
        SigningCertURL: 'https://sns.evil.com/SimpleNotificationService-x.pem',
      }),
      403,
      'webhooks.bad_cert_url',
    );
  });

  it('a certificate on sns.us-east-1.amazonaws.com.evil.com', async () => {
    await expectRejected(
      await post({
        ...signed(bounce),
        SigningCertURL: 'https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-x.pem',
      }),
      403,
      'webhooks.bad_cert_url',
    );
  });

  it('a certificate at evil.com/sns.us-east-1.amazonaws.com/x.pem', async () => {
    await expectRejected(
      await post({ ...signed(bounce), SigningCertURL: 'https://evil.com/sns.us-east-1.amazonaws.com/x.pem' }),
      403,
      'webhooks.bad_cert_url',
    );
  });

  it('a certificate URL on an allowed host that names no certificate', async () => {
    const message = signed(bounce);
    await expectRejected(
      await post({ ...message, SigningCertURL: `${certs.origin}/SimpleNotificationService-missing.pem` }),
      403,
      'webhooks.bad_certificate',
    );
  });

  it('a topic that is not in SNS_TOPIC_ARNS', async () => {
    const message = signed(bounce, { topicArn: 'arn:aws:sns:us-east-1:999999999999:someone-else' });
    await expectRejected(await post(message), 403, 'webhooks.unknown_topic');
  });

  it('an old timestamp', async () => {
    const message = signed(bounce, { timestamp: new Date(Date.now() - 2 * 60 * 60 * 1000) });
    await expectRejected(await post(message), 403, 'webhooks.stale');
  });

  it('malformed JSON', async () => {
    const text = JSON.stringify(signed(bounce));
    await expectRejected(await post(text.slice(0, -10)), 400, 'webhooks.malformed_json');
  });

  it('a 1 MB body', async () => {
    const message = signed(bounce);
    const huge = JSON.stringify({ ...message, Padding: 'x'.repeat(1024 * 1024) });
    const res = await post(huge);
    expect(res.statusCode).toBe(413);
    expect(await snapshot(database.db)).toEqual(before);
  });

  it('a missing field', async () => {
    const message = signed(bounce);
    for (const field of [
      'Signature',
      'SigningCertURL',
      'TopicArn',
      'MessageId',
      'Timestamp',
      'Message',
      'Type',
    ]) {
      const { [field]: _dropped, ...rest } = message;
      await expectRejected(await post(rest), 400, 'webhooks.missing_field');
    }
  });

  it('a signature made by a key that is not the certificate’s', async () => {
    const other = createTestPki();
    try {
      const message = notification(bounce, { key: other.signingKey, certUrl: certs.certUrl });
      await expectRejected(await post(message), 403, 'webhooks.bad_signature');
    } finally {
      other.remove();
    }
  });
});
