import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { SmtpDataStream } from '../src/transports/smtp/smtp-data.stream.ts';
import { classifySmtpError, parseSmtpUrl, SmtpTransport } from '../src/transports/smtp/smtp.transport.ts';
import { createTransport } from '../src/transports/transport.factory.ts';
import type { OutgoingMessage, TransportError } from '../src/transports/transport.types.ts';
import { startSmtpServer } from './helpers/smtp.ts';

function message(to: string, n = 1): OutgoingMessage {
  const raw = Buffer.from(
    [
      'From: News <news@example.org>',
      `To: ${to}`,
      `Subject: test ${n}`,
      `Message-ID: <m${n}@example.org>`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      `body ${n} 你好`,
      '',
    ].join('\r\n'),
  );
  return { envelopeFrom: 'bounces@example.org', to: [to], raw, messageId: `<m${n}@example.org>` };
}

async function sendError(transport: SmtpTransport, m: OutgoingMessage): Promise<TransportError> {
  try {
    await transport.send(m);
  } catch (error) {
    return error as TransportError;
  }
  throw new Error('the send was expected to fail');
}

describe('smtp transport', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('sends our raw bytes with the envelope sender we give, not the From', async () => {
    const server = await startSmtpServer({ keepRaw: true });
    const transport = new SmtpTransport({ url: server.url, connections: 2 });
    cleanups.push(() => transport.close(), server.close);
    for (let i = 1; i <= 5; i++) await transport.send(message(`reader${i}@example.net`, i));
    const got = await server.waitFor(5);
    expect(got.map((m) => m.to[0]).sort()).toEqual([1, 2, 3, 4, 5].map((i) => `reader${i}@example.net`));
    expect(got.every((m) => m.from === 'bounces@example.org')).toBe(true);
    expect(got[0]!.raw).toContain('body');
    expect(got[0]!.raw).toContain('你好');
  });

  it('delivers lines that start with a dot unchanged, through our DATA stream', async () => {
    const server = await startSmtpServer({ keepRaw: true });
    const transport = new SmtpTransport({ url: server.url, connections: 1 });
    cleanups.push(() => transport.close(), server.close);
    const flushes = vi.spyOn(SmtpDataStream.prototype, '_flush');
    const whole = message('dots@example.net', 7);
    const text = `.first\r\n${whole.raw.toString('utf8')}.\r\n..two\r\n.\r\nend`;
    await transport.send({ ...whole, raw: Buffer.from(text) });
    const got = await server.waitFor(1);
    for (const m of got) expect(m.raw).toBe(`${text}\r\n`);
    // nodemailer's SMTPConnection sent it through SmtpDataStream (a nodemailer upgrade that renamed
    // the step we replace would silently fall back to its own, slower DataStream).
    expect(flushes).toHaveBeenCalledTimes(1);
    flushes.mockRestore();
  });

  it('logs in and sends over STARTTLS when the server asks for both, and stops the issue on a refused login', async () => {
    const server = await startSmtpServer({
      keepRaw: true,
      requireTls: true,
      auth: { user: 'news@example.org', pass: 'p:ss wörd' },
    });
    const url = (pass: string) =>
      server.url.replace(
        'smtp://',
        `smtp://${encodeURIComponent('news@example.org')}:${encodeURIComponent(pass)}@`,
      );
    const transport = new SmtpTransport({ url: url('p:ss wörd'), connections: 2 });
    const wrong = new SmtpTransport({ url: url('wrong'), connections: 1 });
    cleanups.push(
      () => transport.close(),
      () => wrong.close(),
      server.close,
    );

    await transport.probe();
    const sent = [1, 2, 3, 4].map((i) => {
      const m = message(`tls${i}@example.net`, i);
      return { ...m, raw: Buffer.from(`${m.raw.toString('utf8')}.dot ${i}\r\n`) };
    });
    await Promise.all(sent.map((m) => transport.send(m)));
    const got = await server.waitFor(4);
    expect(got.every((m) => m.secure === true && m.user === 'news@example.org')).toBe(true);
    for (const m of sent) {
      expect(got.find((g) => g.to[0] === m.to[0])!.raw).toBe(`${m.raw.toString('utf8')}`);
    }

    const refused = await sendError(wrong, message('x@example.net'));
    expect(refused).toMatchObject({ kind: 'fatal', code: 'smtp.auth' });
    await expect(wrong.probe()).rejects.toMatchObject({ kind: 'fatal', code: 'smtp.auth' });
    expect(server.messages()).toHaveLength(4);
  });

  it('sends a message again over a new connection when a used one breaks before its content left', async () => {
    const server = await startSmtpServer({ dropReusedConnections: true });
    const transport = new SmtpTransport({ url: server.url, connections: 1 });
    cleanups.push(() => transport.close(), server.close);
    for (let i = 1; i <= 3; i++) await transport.send(message(`again${i}@example.net`, i));
    expect((await server.waitFor(3)).map((m) => m.to[0])).toEqual(
      [1, 2, 3].map((i) => `again${i}@example.net`),
    );
  });

  it('classifies a 550 as permanent, a 451 as transient and a dropped connection as transient', async () => {
    const rejecting = await startSmtpServer({ rejectAddresses: ['gone@example.net'] });
    const flaky = await startSmtpServer({ transientRate: 1 });
    const dropping = await startSmtpServer({ dropRate: 1 });
    const transports = [rejecting, flaky, dropping].map(
      (s) => new SmtpTransport({ url: s.url, connections: 1 }),
    );
    cleanups.push(...transports.map((t) => () => t.close()), rejecting.close, flaky.close, dropping.close);

    const permanent = await sendError(transports[0]!, message('gone@example.net'));
    expect(permanent.kind).toBe('permanent');
    expect(permanent.code).toBe('smtp.550');
    expect(permanent.message).toContain('User unknown');

    const transient = await sendError(transports[1]!, message('a@example.net'));
    expect(transient.kind).toBe('transient');
    expect(transient.code).toBe('smtp.451');

    const dropped = await sendError(transports[2]!, message('b@example.net'));
    expect(dropped.kind).toBe('transient');
  });

  it('a 5xx is a hard bounce only at RCPT TO for the mailbox; a refused sender or greeting stops the issue; a refused DATA fails the message alone', async () => {
    const server = await startSmtpServer({
      rejectAddresses: ['gone@example.net'],
      policyRejectAddresses: ['elsewhere@example.net'],
      rejectDataFor: ['filtered@example.net'],
    });
    const refusingSender = await startSmtpServer({ rejectSenders: ['bounces@example.org'] });
    const refusingAll = await startSmtpServer({ rejectGreeting: true });
    const transports = [server, refusingSender, refusingAll].map(
      (s) => new SmtpTransport({ url: s.url, connections: 1 }),
    );
    cleanups.push(
      ...transports.map((t) => () => t.close()),
      server.close,
      refusingSender.close,
      refusingAll.close,
    );

    expect(await sendError(transports[0]!, message('gone@example.net'))).toMatchObject({
      kind: 'permanent',
      code: 'smtp.550',
      hardBounce: true,
    });
    expect(await sendError(transports[0]!, message('elsewhere@example.net'))).toMatchObject({
      kind: 'permanent',
      code: 'smtp.550',
      hardBounce: false,
    });
    const filtered = await sendError(transports[0]!, message('filtered@example.net'));
    expect(filtered).toMatchObject({ kind: 'permanent', code: 'smtp.554', hardBounce: false });
    expect(filtered.message).toContain('content looks like spam');

    const sender = await sendError(transports[1]!, message('a@example.net'));
    expect(sender).toMatchObject({ kind: 'fatal', code: 'smtp.550', hardBounce: false });
    expect(sender.message).toContain('MAIL FROM');
    expect(sender.message).toContain('Sender address rejected');

    const greeting = await sendError(transports[2]!, message('b@example.net'));
    expect(greeting).toMatchObject({ kind: 'fatal', code: 'smtp.554', hardBounce: false });
    expect(greeting.message).toContain('refused the connection');

    // The server still takes mail for everyone else after those refusals.
    await transports[0]!.send(message('fine@example.net'));
    expect((await server.waitFor(1)).map((m) => m.to[0])).toEqual(['fine@example.net']);
  });

  it('treats a refused connection as transient and a refused login as fatal', () => {
    expect(classifySmtpError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).kind).toBe('transient');
    expect(classifySmtpError(Object.assign(new Error('x'), { code: 'EAUTH', responseCode: 535 })).kind).toBe(
      'fatal',
    );
    const slowDown = classifySmtpError(
      Object.assign(new Error('x'), { responseCode: 421, response: '421 4.7.0 Too many messages' }),
    );
    expect(slowDown.kind).toBe('transient');
    expect(slowDown.throttled).toBe(true);
  });

  it('reads host, port, TLS and credentials from MAIL_URL', () => {
    expect(parseSmtpUrl('smtps://me%40x.org:p%3Ass@mail.example.org')).toEqual({
      host: 'mail.example.org',
      port: 465,
      secure: true,
      auth: { user: 'me@x.org', pass: 'p:ss' },
    });
    expect(parseSmtpUrl('smtp://127.0.0.1:2525')).toEqual({ host: '127.0.0.1', port: 2525, secure: false });
  });
});

describe('SMTP DATA content', () => {
  // nodemailer's own DataStream is the reference: ours must write the same bytes.

  async function through(make: () => NodeJS.ReadWriteStream, chunks: Buffer[]): Promise<Buffer> {
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(chunks),
      make(),
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    return Buffer.concat(out);
  }

  afterEach(() => vi.restoreAllMocks());

  it('writes what nodemailer writes: dots doubled, bare CR and LF made CRLF, across chunk boundaries', async () => {
    const cases = [
      'a\r\nb\r\n',
      'a\r\n.b\r\n',
      '.x\r\n',
      'a\nb',
      'a\rb',
      'a\r.b',
      'a\r',
      'a\n',
      '\n.x',
      'no end',
      '',
    ];
    const alphabet = ['a', '.', '\r', '\n', '\r\n', '\r\n.', '你'];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let n = 0; n < 400; n++) {
      const length = Math.floor(random() * 12);
      cases.push(Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''));
    }
    for (const text of cases) {
      const bytes = Buffer.from(text, 'utf8');
      const expected = await through(() => new DataStream(), [bytes]);
      expect(await through(() => new SmtpDataStream(), [bytes])).toEqual(expected);
      // The same bytes cut in every place, so a CR, LF or dot meets a chunk boundary.
      for (let cut = 1; cut < bytes.length; cut++) {
        const pieces = [bytes.subarray(0, cut), bytes.subarray(cut)];
        expect(await through(() => new SmtpDataStream(), pieces), JSON.stringify({ text, cut })).toEqual(
          expected,
        );
      }
    }
  });
});

describe('outbox transport', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-outbox-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes each message as a complete .eml file and nothing else', async () => {
    const transport = createTransport({ MAIL_URL: `outbox:${dir}`, SEND_CONCURRENCY: 1 });
    expect(transport.name).toBe('outbox');
    const result = await transport.send({ ...message('r@example.net', 7), tags: { deliveryId: 7 } });
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/\.eml$/);
    expect(result.providerMessageId).toBe(join(dir, files[0]!));
    expect(readFileSync(join(dir, files[0]!))).toEqual(message('r@example.net', 7).raw);
  });

  it('chooses the transport by MAIL_URL scheme and names an unknown one', () => {
    expect(createTransport({ MAIL_URL: 'smtp://127.0.0.1:25', SEND_CONCURRENCY: 1 }).name).toBe('smtp');
    expect(() => createTransport({ MAIL_URL: 'ftp://x', SEND_CONCURRENCY: 1 })).toThrow(/scheme/);
  });
});
