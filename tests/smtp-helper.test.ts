import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { header, startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';

describe('the recording SMTP test server', () => {
  let server: TestSmtpServer;
  beforeAll(async () => {
    server = await startSmtpServer({ rejectAddresses: ['gone@example.org'] });
  });
  afterAll(() => server.close());

  it('records each accepted message with its envelope and headers', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.port,
      secure: false,
      ignoreTLS: true,
    });
    await transport.sendMail({
      from: 'a@example.org',
      to: 'b@example.org',
      subject: '测试 subject',
      text: 'hi',
    });
    const [message] = await server.waitFor(1);
    expect(message?.to).toEqual(['b@example.org']);
    expect(message?.from).toBe('a@example.org');
    expect(header(message!.headers, 'Subject')).toMatch(/=\?UTF-8\?/);
    await expect(
      transport.sendMail({ from: 'a@example.org', to: 'gone@example.org', subject: 'x', text: 'x' }),
    ).rejects.toMatchObject({ responseCode: 550 });
    transport.close();
  });
});
