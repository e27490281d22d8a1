import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MimeLimitError, parseBounceMail } from '../src/bounces/bounce-mail.parser.ts';
import { CORPUS_DIR } from './helpers/bounce-corpus.ts';

/** The classifier's MIME reader on real bounces of the corpus (tests/fixtures/bounces/README.md). */
const real = (file: string) => parseBounceMail(readFileSync(join(CORPUS_DIR, 'corpus', file)));

describe('the bounce MIME reader', () => {
  it('decodes RFC 2047 words in ISO-2022-JP and reads a forwarded bounce as one attached message', () => {
    const mail = real('lhost-x5-01.eml');
    expect(mail.header('subject')).toBe('Returned mail: User unknown');
    expect(mail.header('from')).toBe('"Mail Delivery Subsystem" <MAILER-DAEMON@example.co.jp>');
    const attached = mail.parts.find((p) => p.contentType === 'message/rfc822');
    expect(attached?.content.toString('latin1')).toMatch(/^Content-Type: multipart\/report/m);
  });

  it('undoes quoted-printable soft line breaks in the text part', () => {
    expect(real('lhost-amazonworkmail-02.eml').text).toContain(
      '550 5.2.1 <filtered@example.jp>... User Unknown',
    );
  });

  it('decodes a base64 text part in its charset', () => {
    expect(real('rfc3464-42.eml').text).toContain('aufgeführt');
  });

  it('finds the parts when the declared boundary is not the one the body uses', () => {
    const mail = real('rhost-google-02.eml');
    expect(mail.parts.map((p) => p.contentType)).toContain('message/delivery-status');
    expect(mail.text).toContain('This is the mail system at host mail.example.co.jp.');
  });

  it('reads a multipart body without any delimiter as text', () => {
    expect(real('rfc3464-04.eml').text).toMatch(/^Final-Recipient: RFC822; kijitora@/m);
  });

  it('stops at 32 levels of nesting and at 512 parts', () => {
    let nested = 'From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n';
    for (let i = 0; i < 40; i++)
      nested += `--b${i}\r\nContent-Type: multipart/mixed; boundary=b${i + 1}\r\n\r\n`;
    expect(() => parseBounceMail(Buffer.from(nested))).toThrow(MimeLimitError);
    const many = `From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${'--b\r\n\r\nx\r\n'.repeat(600)}--b--\r\n`;
    expect(() => parseBounceMail(Buffer.from(many))).toThrow(/more than 512 parts/);
  });
});
