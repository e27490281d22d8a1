import { createHash, generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { simpleParser } from 'mailparser';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config.loader.ts';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { MessageBuilder, parseVerpAddress } from '../src/render/message.builder.ts';
import type { IssueTemplate } from '../src/render/render.types.ts';
import { renderSystemMail, renderSystemMailParts } from '../src/render/system-mail.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { renderTestConfig } from './fixtures/digests/config.ts';

const zhDaily = readFileSync(new URL('./fixtures/digests/zh-daily.md', import.meta.url), 'utf8');
const LIST = { id: 3, slug: 'ai-daily', name: 'AI 日报' };

let template: IssueTemplate;
beforeAll(async () => {
  template = await compileIssue(parseDigest(zhDaily, 'zh-daily.md'), {
    config: renderTestConfig(),
    list: LIST,
  });
});

function setup(extra: Record<string, string> = {}): {
  config: Config;
  signer: TokenSigner;
  builder: MessageBuilder;
} {
  const config = renderTestConfig(extra);
  const signer = new TokenSigner(config.SECRET_KEY);
  return { config, signer, builder: new MessageBuilder(config, signer) };
}

/** Header fields of a raw message, unfolded, in order. */
function headerFields(raw: string): { name: string; value: string; raw: string }[] {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  const fields: { name: string; value: string; raw: string }[] = [];
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line) && fields.length > 0) {
      const last = fields[fields.length - 1]!;
      last.raw += `\r\n${line}`;
      last.value += `\r\n${line}`;
    } else {
      const colon = line.indexOf(':');
      fields.push({ name: line.slice(0, colon), value: line.slice(colon + 1).replace(/^ /, ''), raw: line });
    }
  }
  return fields;
}

const header = (raw: string, name: string) =>
  headerFields(raw).find((f) => f.name.toLowerCase() === name.toLowerCase())?.value;

/**
 * An independent DKIM verifier (RFC 6376, relaxed header / simple body canonicalisation), written
 * from the RFC rather than from the signer, so the two cannot share a mistake silently.
 */
function verifyDkim(raw: string, publicKey: KeyObject): { ok: boolean; signedHeaders: string[] } {
  const fields = headerFields(raw);
  const sigField = fields.find((f) => f.name.toLowerCase() === 'dkim-signature');
  if (!sigField) return { ok: false, signedHeaders: [] };
  const tags = Object.fromEntries(
    sigField.value
      .replace(/\s+/g, '')
      .split(';')
      .filter(Boolean)
      .map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]),
  ) as Record<string, string>;
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4).replace(/(\r\n)*$/, '\r\n');
  if (createHash('sha256').update(body).digest('base64') !== tags.bh) return { ok: false, signedHeaders: [] };
  const relaxed = (name: string, value: string) =>
    `${name.toLowerCase()}:${value
      .replace(/\r\n/g, '')
      .replace(/[ \t]+/g, ' ')
      .trim()}`;
  const signedHeaders = tags.h!.split(':');
  const remaining = [...fields];
  let data = '';
  for (const name of signedHeaders) {
    // The last remaining instance of each named header is the one signed.
    for (let i = remaining.length - 1; i >= 0; i--) {
      if (remaining[i]!.name.toLowerCase() === name) {
        data += `${relaxed(name, remaining[i]!.value)}\r\n`;
        remaining.splice(i, 1);
        break;
      }
    }
  }
  data += relaxed('dkim-signature', sigField.value.replace(/(^|;)(\s*b\s*=)[^;]*/, '$1$2'));
  const signature = Buffer.from(tags.b!, 'base64');
  const ok =
    tags.a === 'rsa-sha256'
      ? verify('sha256', Buffer.from(data), publicKey, signature)
      : verify(null, createHash('sha256').update(data).digest(), publicKey, signature);
  return { ok, signedHeaders };
}

describe('a personalised issue message', () => {
  const recipient = { email: 'reader@example.com', name: '张三', subscriberId: 42, deliveryId: 9001 };

  it('carries every header a newsletter needs, with List-Unsubscribe an HTTPS URL', async () => {
    const { builder } = setup();
    const message = builder.build({ id: 7, template, list: LIST }, recipient);
    const raw = message.raw.toString('utf8');
    expect(header(raw, 'From')).toBe('=?UTF-8?B?QUkg5pel5oql?= <news@example.org>');
    expect(header(raw, 'Message-ID')).toBe(message.messageId);
    expect(message.messageId).toMatch(/^<7\.9001\.[0-9a-f-]+@example\.org>$/);
    expect(header(raw, 'List-Id')).toMatch(/ <ai-daily\.example\.org>$/);
    expect(header(raw, 'List-Unsubscribe')).toMatch(
      /^<https:\/\/news\.example\.org\/unsubscribe\/[\w-]+\.[\w-]+>$/,
    );
    expect(header(raw, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    expect(header(raw, 'Feedback-ID')).toBe('7:ai-daily:newsletter:digestmail');
    expect(header(raw, 'X-Digestmail-Issue')).toBe('7');
    expect(header(raw, 'X-Digestmail-Test')).toBeUndefined();
    expect(header(raw, 'Date')).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    expect(header(raw, 'Content-Type')).toMatch(/^multipart\/alternative; boundary="dm-[0-9a-f]+"$/);
    expect(message.to).toEqual(['reader@example.com']);
    expect(message.tags).toEqual({ issueId: 7, deliveryId: 9001, kind: 'issue' });

    const parsed = await simpleParser(message.raw);
    expect(parsed.subject).toBe(template.subject);
    expect(parsed.to && 'value' in parsed.to ? parsed.to.value[0] : undefined).toEqual({
      address: 'reader@example.com',
      name: '张三',
    });
    const personal = builder.personalise({ id: 7, template, list: LIST }, recipient);
    expect(parsed.html).toBe(personal.html.replace(/\n$/, ''));
    expect(parsed.text?.trimEnd()).toBe(personal.text.trimEnd());
    expect(parsed.html).toContain('张三，你好！');
    expect(parsed.text).toContain('https://news.example.org/archive/7');
  });

  it('its links carry signed, purpose-bound tokens that never expire', () => {
    const { builder, signer } = setup();
    const raw = builder.build({ id: 7, template, list: LIST }, recipient).raw.toString('utf8');
    const token = /unsubscribe\/([\w-]+\.[\w-]+)>/.exec(header(raw, 'List-Unsubscribe')!)![1]!;
    expect(signer.verify('unsubscribe', token, new Date('2040-01-01'))).toEqual({ s: 42, l: 3 });
    expect(() => signer.verify('preferences', token)).toThrow(/not valid/);
    const links = builder.links({ id: 7, list: LIST }, recipient);
    const prefs = links.preferencesUrl.split('/preferences/')[1]!;
    expect(signer.verify('preferences', prefs, new Date('2040-01-01'))).toEqual({ s: 42, l: 3 });
    expect(links.webUrl).toBe('https://news.example.org/archive/7');
  });

  it('a test send is marked in the subject, a header and the unsubscribe token', async () => {
    const { builder, signer } = setup();
    const message = builder.build(
      { id: 7, template, list: LIST },
      { ...recipient, deliveryId: undefined },
      { test: true },
    );
    const raw = message.raw.toString('utf8');
    expect((await simpleParser(message.raw)).subject).toBe(`[TEST] ${template.subject}`);
    expect(header(raw, 'X-Digestmail-Test')).toBe('1');
    const token = /unsubscribe\/([\w-]+\.[\w-]+)>/.exec(header(raw, 'List-Unsubscribe')!)![1]!;
    expect(signer.verify('unsubscribe', token)).toEqual({ s: 42, l: 3, t: 1 });
    expect(message.tags?.kind).toBe('test');
  });

  it('is valid on the wire: CRLF only, no line over 998 octets, quoted-printable lines within 76', () => {
    const { builder } = setup();
    const raw = builder.build({ id: 7, template, list: LIST }, recipient).raw.toString('utf8');
    expect(raw).not.toMatch(/[^\r]\n|\r(?!\n)/);
    const lines = raw.split('\r\n');
    expect(Math.max(...lines.map((l) => Buffer.byteLength(l)))).toBeLessThanOrEqual(998);
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4).split('\r\n');
    expect(Math.max(...body.map((l) => l.length))).toBeLessThanOrEqual(76);
    expect(body.every((l) => /^[\x20-\x7e]*$/.test(l))).toBe(true);
  });

  it('a reader name cannot add headers, and is escaped in the HTML', async () => {
    const { builder } = setup();
    const message = builder.build(
      { id: 7, template, list: LIST },
      { ...recipient, name: 'Eve <b>bold</b>\r\nBcc: victim@example.net' },
    );
    const raw = message.raw.toString('utf8');
    expect(headerFields(raw).map((f) => f.name.toLowerCase())).not.toContain('bcc');
    const parsed = await simpleParser(message.raw);
    expect(parsed.bcc).toBeUndefined();
    expect(parsed.html).toContain('Eve &lt;b&gt;bold&lt;/b&gt; Bcc: victim@example.net，你好！');
    expect(() =>
      builder.build({ id: 7, template, list: LIST }, { ...recipient, email: 'a@b.c\r\nBcc: x@y.z' }),
    ).toThrow();
  });

  it('without a name, the greeting is the anonymous one', async () => {
    const { builder } = setup();
    const parsed = await simpleParser(
      builder.build({ id: 7, template, list: LIST }, { ...recipient, name: null }).raw,
    );
    expect(parsed.html).toContain('>你好！</p>');
    expect(parsed.to && 'text' in parsed.to ? parsed.to.text : '').toBe('reader@example.com');
  });

  it('every reader gets their own Message-ID and tokens; the template is reused', () => {
    const { builder } = setup();
    const a = builder.build(
      { id: 7, template, list: LIST },
      { ...recipient, subscriberId: 1, deliveryId: 1 },
    );
    const b = builder.build(
      { id: 7, template, list: LIST },
      { ...recipient, subscriberId: 2, deliveryId: 2 },
    );
    expect(a.messageId).not.toBe(b.messageId);
    expect(header(a.raw.toString(), 'List-Unsubscribe')).not.toBe(
      header(b.raw.toString(), 'List-Unsubscribe'),
    );
  });

  it('a template loaded back from JSON builds the same message body', async () => {
    const { builder } = setup();
    const stored = JSON.parse(JSON.stringify(template)) as IssueTemplate;
    const a = await simpleParser(builder.build({ id: 7, template, list: LIST }, recipient).raw);
    const b = await simpleParser(builder.build({ id: 7, template: stored, list: LIST }, recipient).raw);
    expect(b.text).toBe(a.text);
    expect(b.html).toBe(a.html);
  });
});

describe('DKIM', () => {
  it.each(['rsa', 'ed25519'] as const)(
    'a %s signature verifies and covers List-Unsubscribe and List-Unsubscribe-Post',
    (type) => {
      const pair =
        type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
      const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const { builder } = setup({
        DKIM_DOMAIN: 'example.org',
        DKIM_SELECTOR: 'dm1',
        DKIM_PRIVATE_KEY: pem.replace(/\n/g, '\\n'),
      });
      const message = builder.build(
        { id: 7, template, list: LIST },
        { email: 'r@example.com', name: 'Ann', subscriberId: 1, deliveryId: 5 },
      );
      const raw = message.raw.toString('utf8');
      expect(raw.startsWith('DKIM-Signature: v=1;')).toBe(true);
      const result = verifyDkim(raw, pair.publicKey);
      expect(result.ok).toBe(true);
      expect(result.signedHeaders).toEqual(
        expect.arrayContaining([
          'from',
          'subject',
          'list-unsubscribe',
          'list-unsubscribe-post',
          'list-id',
          'message-id',
        ]),
      );
      expect(header(raw, 'DKIM-Signature')).toMatch(/d=example\.org;[\s\S]*s=dm1;/);
      // The verifier can fail: a changed body or header no longer verifies.
      expect(
        verifyDkim(
          raw.replace(/\r\n--dm-[0-9a-f]+--\r\n$/, (end) => `=\r\nX${end}`),
          pair.publicKey,
        ).ok,
      ).toBe(false);
      expect(
        verifyDkim(
          raw.replace('List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'List-Unsubscribe-Post: nope'),
          pair.publicKey,
        ).ok,
      ).toBe(false);
    },
  );

  it('an incomplete DKIM configuration is a clear configuration error', () => {
    expect(() => setup({ DKIM_DOMAIN: 'example.org' })).toThrow(
      /DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY/,
    );
    expect(() =>
      setup({ DKIM_DOMAIN: 'example.org', DKIM_SELECTOR: 's', DKIM_PRIVATE_KEY: 'not a key' }),
    ).toThrow(/DKIM_PRIVATE_KEY: expected a PEM private key/);
  });
});

describe('envelope sender and VERP', () => {
  const recipient = { email: 'reader@example.com', name: null, subscriberId: 42, deliveryId: 123456 };

  it('is the bounce address, or the From address when there is none', () => {
    expect(
      setup({ BOUNCE_ADDRESS: '<bounces@mail.example.org>' }).builder.build(
        { id: 1, template, list: LIST },
        recipient,
      ).envelopeFrom,
    ).toBe('bounces@mail.example.org');
    expect(setup().builder.build({ id: 1, template, list: LIST }, recipient).envelopeFrom).toBe(
      'news@example.org',
    );
  });

  it('with VERP names the delivery in a signed address that parseVerpAddress reads back', () => {
    const { builder, config } = setup({ VERP: 'true', BOUNCE_ADDRESS: 'Bounces <bounce@mail.example.org>' });
    const from = builder.build({ id: 1, template, list: LIST }, recipient).envelopeFrom;
    expect(from).toMatch(/^bounce\+[0-9a-z]+-[0-9a-z]{16}@mail\.example\.org$/);
    expect(parseVerpAddress(from, config.SECRET_KEY)).toBe(123456);
    expect(parseVerpAddress(`<${from}>`, config.SECRET_KEY)).toBe(123456);
    // Some servers change the case of a local part on the way back.
    expect(parseVerpAddress(from.toUpperCase(), config.SECRET_KEY)).toBe(123456);
  });

  it('a forged or foreign VERP address gives no delivery', () => {
    const { builder, config } = setup({ VERP: 'true' });
    const from = builder.envelopeFrom(77);
    expect(from).toMatch(/^bounces\+/);
    const [local, domain] = from.split('@');
    const [id, mac] = local!.slice('bounces+'.length).split('-');
    expect(
      parseVerpAddress(`bounces+${(78).toString(36)}-${mac}@${domain}`, config.SECRET_KEY),
    ).toBeUndefined();
    expect(
      parseVerpAddress(`bounces+${id}-${mac!.slice(0, -1)}x@${domain}`, config.SECRET_KEY),
    ).toBeUndefined();
    expect(parseVerpAddress(`bounces+0${id}-${mac}@${domain}`, config.SECRET_KEY)).toBeUndefined();
    expect(parseVerpAddress('news@example.org', config.SECRET_KEY)).toBeUndefined();
    expect(parseVerpAddress(from, 'another-secret-key-0123456789abcdefgh')).toBeUndefined();
  });

  it('the old VERP form (a full signed token) is still read, and forged ones are not', () => {
    const { config, signer } = setup();
    const old = `bounces+${signer.sign('verp', { d: 77 })}@mail.example.org`;
    expect(parseVerpAddress(old, config.SECRET_KEY)).toBe(77);
    const [payload, sig] = old.slice('bounces+'.length, old.indexOf('@')).split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ d: 78, p: 'verp' })).toString('base64url');
    expect(
      parseVerpAddress(`bounces+${forgedPayload}.${sig}@mail.example.org`, config.SECRET_KEY),
    ).toBeUndefined();
    expect(
      parseVerpAddress(`bounces+${payload}.${sig}x@mail.example.org`, config.SECRET_KEY),
    ).toBeUndefined();
    // A token of another purpose is not a VERP token.
    expect(
      parseVerpAddress(
        `bounces+${signer.sign('unsubscribe', { d: 77 })}@mail.example.org`,
        config.SECRET_KEY,
      ),
    ).toBeUndefined();
  });
});

describe('transactional mail', () => {
  it('confirmation mail in Chinese: escaped names, the confirm link in both parts, no list headers', async () => {
    const { builder, config } = setup();
    const mail = await renderSystemMail('confirm', {
      lang: 'zh-CN',
      listNames: ['AI 日报', 'Weekly <b>'],
      name: '李雷',
      actionUrl: 'https://news.example.org/confirm/TOKEN?a=1&b=2',
      config,
    });
    expect(mail.subject).toBe('请确认订阅「AI 日报」、「Weekly <b>」');
    expect(mail.html).toContain('<html lang="zh-CN"');
    expect(mail.html).toContain('「Weekly &lt;b&gt;」');
    // a confirmation carries no text a stranger chose: a name given is never in it (issue 11.2)
    expect(mail.html).not.toContain('李雷');
    expect(mail.text).not.toContain('李雷');
    expect(mail.html).toContain('你好！');
    expect(mail.html).toContain('href="https://news.example.org/confirm/TOKEN?a=1&amp;b=2"');
    expect(mail.html).toContain('确认订阅');
    expect(mail.text).toContain('https://news.example.org/confirm/TOKEN?a=1&b=2');
    expect(mail.html).toContain(config.POSTAL_ADDRESS.replace(/&/g, '&amp;'));

    const message = builder.buildTransactional({ to: 'lilei@example.com', ...mail, kind: 'confirm' });
    const raw = message.raw.toString('utf8');
    expect(header(raw, 'List-Unsubscribe')).toBeUndefined();
    expect(header(raw, 'Auto-Submitted')).toBe('auto-generated');
    expect(message.messageId).toMatch(/^<confirm\.[0-9a-f-]+@example\.org>$/);
    expect(header(raw, 'Message-ID')).toBe(message.messageId);
    expect(message.tags).toEqual({ kind: 'confirm' });
    const parsed = await simpleParser(message.raw);
    expect(parsed.subject).toBe(mail.subject);
    expect(parsed.html).toBe(mail.html);
    expect(parsed.text?.trimEnd()).toBe(mail.text.trimEnd());
  });

  it('welcome and goodbye mail in English carry their own links', async () => {
    const { config } = setup();
    const welcome = await renderSystemMail('welcome', {
      lang: 'en',
      listNames: ['Signals'],
      name: null,
      preferencesUrl: 'https://news.example.org/preferences/P',
      unsubscribeUrl: 'https://news.example.org/unsubscribe/U',
      config,
    });
    expect(welcome.subject).toBe('Welcome to Signals');
    expect(welcome.html).toContain('Hi there,');
    expect(welcome.html).toContain('href="https://news.example.org/preferences/P"');
    expect(welcome.html).toContain('href="https://news.example.org/unsubscribe/U"');
    const goodbye = await renderSystemMail('goodbye', {
      lang: 'en',
      listNames: ['Signals', 'Daily'],
      name: 'Ann',
      actionUrl: 'https://news.example.org/subscribe',
      config,
    });
    expect(goodbye.subject).toBe('You have unsubscribed from Signals and Daily');
    expect(goodbye.html).toContain('Subscribe again');
    expect(goodbye.html).not.toContain('/unsubscribe/');
    expect(goodbye.text).toContain('https://news.example.org/subscribe');
  });

  it('is compiled once: the same input gives the same HTML, another name only changes the name', async () => {
    const { config } = setup();
    const input = {
      lang: 'en',
      listNames: ['Signals'],
      name: 'Ann',
      actionUrl: 'https://x.example/c/1',
      config,
    };
    const a = await renderSystemMail('goodbye', input);
    const b = await renderSystemMail('goodbye', { ...input, name: 'Bob' });
    expect(b.html).toBe(a.html.replace('Hi Ann,', 'Hi Bob,'));
  });

  it.each([
    ['zh-CN', 'AI 日报', 'base64'],
    ['en', 'Signals & <Daily>', 'quoted-printable'],
  ])(
    'built from its shared template (%s), a mail is the one built from its whole HTML, and its DKIM signature verifies',
    async (lang, listName, encoding) => {
      const pair = generateKeyPairSync('ed25519');
      const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const { builder, config } = setup({
        DKIM_DOMAIN: 'example.org',
        DKIM_SELECTOR: 'dm1',
        DKIM_PRIVATE_KEY: pem.replace(/\n/g, '\\n'),
      });
      const mailFor = (token: string) => ({
        lang,
        listNames: [listName],
        name: null,
        actionUrl: `https://news.example.org/confirm/${token}?lang=${lang}&x=<1>`,
        config,
      });
      const first = await renderSystemMailParts('confirm', mailFor('FIRST'));
      const parts = await renderSystemMailParts('confirm', mailFor('SECOND-A-LONGER-TOKEN'));
      // One template for every confirmation of these lists: only the values differ.
      expect(parts.html).toBe(first.html);
      expect(parts.htmlValues.actionUrl).toBe(
        `https://news.example.org/confirm/SECOND-A-LONGER-TOKEN?lang=${lang}&amp;x=&lt;1&gt;`,
      );
      const whole = await renderSystemMail('confirm', mailFor('SECOND-A-LONGER-TOKEN'));
      const input = { to: 'r@example.com', subject: parts.subject, text: parts.text, kind: 'confirm' };
      const spliced = builder.buildTransactional({
        ...input,
        html: { template: parts.html, values: parts.htmlValues },
      });
      const plain = builder.buildTransactional({ ...input, html: whole.html });
      const raw = spliced.raw.toString('utf8');
      expect(Buffer.concat(spliced.parts!).equals(spliced.raw)).toBe(true);
      expect(raw).toContain(`Content-Transfer-Encoding: ${encoding}`);
      expect(verifyDkim(raw, pair.publicKey).ok).toBe(true);
      expect(raw.split('\r\n').every((line) => line.length <= 76 || line.startsWith('DKIM-Signature'))).toBe(
        true,
      );
      const [a, b] = await Promise.all([simpleParser(spliced.raw), simpleParser(plain.raw)]);
      expect(a.html).toBe(whole.html);
      expect(a.html).toBe(b.html);
      expect(a.text).toBe(b.text);
      expect(a.subject).toBe(b.subject);
    },
  );

  it('a confirmation mail without its link is a programming error, not a silent empty button', async () => {
    const { config } = setup();
    await expect(
      renderSystemMail('confirm', { lang: 'en', listNames: ['S'], name: null, config }),
    ).rejects.toThrow(/actionUrl/);
  });
});
