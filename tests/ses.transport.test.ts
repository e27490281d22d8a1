import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSesUrl, SesTransport } from '../src/transports/ses/ses.transport.ts';
import { createTransport } from '../src/transports/transport.factory.ts';
import { type OutgoingMessage, TransportError } from '../src/transports/transport.types.ts';
import { AWS_TEST_ENV, type LocalSes, MAX_SEND_RATE, startLocalSes } from './ses.local.ts';

let ses: LocalSes;

beforeAll(async () => {
  Object.assign(process.env, AWS_TEST_ENV);
  ses = await startLocalSes({
    // Every third SendEmail call is throttled, as SES does when the account's rate is exceeded.
    throttle: (n) => n % 3 === 0,
    errorsFor: {
      'rejected@example.net': 'MessageRejected',
      'suspended@example.net': 'AccountSuspendedException',
      'paused@example.net': 'SendingPausedException',
      'mailfrom@example.net': 'MailFromDomainNotVerifiedException',
    },
  });
});

afterAll(async () => {
  await ses?.close();
});

function message(i: number, to = `reader${i}@example.net`): OutgoingMessage {
  const messageId = `<7.${i}.test@news.example.org>`;
  const raw = [
    'From: AI Daily <news@news.example.org>',
    `To: ${to}`,
    `Subject: AI Daily #${i}`,
    `Message-ID: ${messageId}`,
    'List-Unsubscribe: <https://news.example.org/unsubscribe/tok>',
    'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
    'X-Digestmail-Issue: 7',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Item ${i}: 大模型 news.`,
    '',
  ].join('\r\n');
  return {
    envelopeFrom: 'bounces@news.example.org',
    to: [to],
    raw: Buffer.from(raw, 'utf8'),
    messageId,
    tags: { issueId: 7, deliveryId: 1000 + i },
  };
}

describe('SES transport against a local SES v2 endpoint', () => {
  it('MAIL_URL ses://<region>?configurationSet=NAME selects it; bad options are refused with a clear error', () => {
    expect(parseSesUrl('ses://eu-west-1?configurationSet=digestmail', 'http://x')).toEqual({
      region: 'eu-west-1',
      configurationSet: 'digestmail',
      endpoint: 'http://x',
    });
    expect(() => parseSesUrl('ses://eu-west-1?configSet=x')).toThrow(/unknown ses:\/\/ option "configSet"/);
    const transport = createTransport({
      MAIL_URL: 'ses://us-east-1?configurationSet=digestmail',
      SEND_CONCURRENCY: 2,
      SES_ENDPOINT: ses.endpoint,
    });
    expect(transport.name).toBe('ses');
    return transport.close();
  });

  it('reads the account maximum send rate with GetAccount', async () => {
    const transport = new SesTransport({ region: 'us-east-1', endpoint: ses.endpoint });
    expect(await transport.maxRate()).toBe(MAX_SEND_RATE);
    await transport.close();
  });

  it('sends raw messages with our headers, tags and configuration set; throttled calls are retried and nothing is lost', async () => {
    const transport = new SesTransport({
      region: 'us-east-1',
      configurationSet: 'digestmail-test',
      endpoint: ses.endpoint,
    });
    const results = new Map<number, string>();
    let throttledSeen = 0;
    for (let i = 0; i < 30; i++) {
      for (;;) {
        try {
          results.set(i, (await transport.send(message(i))).providerMessageId);
          break;
        } catch (error) {
          expect(error).toBeInstanceOf(TransportError);
          const e = error as TransportError;
          expect([e.kind, e.code, e.throttled]).toEqual(['transient', 'ses.throttled', true]);
          throttledSeen += 1;
        }
      }
    }
    await transport.close();
    expect(throttledSeen).toBeGreaterThanOrEqual(10);
    expect(ses.throttled()).toBe(throttledSeen);

    const accepted = ses.accepted().filter((a) => a.tags.issue === '7');
    expect(accepted).toHaveLength(30);
    for (let i = 0; i < 30; i++) {
      const sent = accepted.filter((a) => a.tags.delivery === String(1000 + i));
      expect(sent, `delivery ${1000 + i}`).toHaveLength(1);
      expect(sent[0]!.messageId).toBe(results.get(i));
      expect(sent[0]!.configurationSet).toBe('digestmail-test');
      expect(sent[0]!.to).toEqual([`reader${i}@example.net`]);
      expect(sent[0]!.raw).toBe(message(i).raw.toString('utf8'));
    }
    const stored = await ses.stored();
    const ids = new Set(stored.map((s) => s.messageId));
    for (const id of results.values()) expect(ids.has(id)).toBe(true);
    expect(stored.find((s) => s.messageId === results.get(3))?.subject).toBe('AI Daily #3');
  });

  it('MessageRejected fails that one message; suspended, paused and unverified MAIL FROM stop the issue', async () => {
    const transport = new SesTransport({ region: 'us-east-1', endpoint: ses.endpoint });
    const attempt = async (to: string) => {
      for (;;) {
        try {
          await transport.send(message(99, to));
          return undefined;
        } catch (error) {
          if ((error as TransportError).throttled) continue;
          return error as TransportError;
        }
      }
    };
    // A content rejection, not a bounce: the reader is not suppressed for it.
    expect(await attempt('rejected@example.net')).toMatchObject({
      kind: 'permanent',
      code: 'ses.message_rejected',
      hardBounce: false,
    });
    expect(await attempt('suspended@example.net')).toMatchObject({
      kind: 'fatal',
      code: 'ses.account_suspended',
    });
    expect(await attempt('paused@example.net')).toMatchObject({ kind: 'fatal', code: 'ses.sending_paused' });
    expect(await attempt('mailfrom@example.net')).toMatchObject({
      kind: 'fatal',
      code: 'ses.mail_from_not_verified',
    });
    await transport.close();
  });

  it('an endpoint that does not answer is a transient failure', async () => {
    const transport = new SesTransport({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9' });
    const error = await transport.send(message(1)).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'transient', code: 'ses.unavailable' });
    await transport.close();
  });
});
