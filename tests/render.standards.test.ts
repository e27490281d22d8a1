import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dkimVerify } from 'mailauth';
import { simpleParser } from 'mailparser';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { htmlPartSizes, MessageBuilder, parseVerpAddress } from '../src/render/message.builder.ts';
import type { IssueTemplate } from '../src/render/render.types.ts';
import { renderSystemMail } from '../src/render/system-mail.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { renderTestConfig } from './fixtures/digests/config.ts';
import { manyItemsDigest } from './fixtures/digests/generated.ts';

/**
 * What strict outside tools say about the messages we build (issue 11, points 12–17): an independent
 * DKIM verifier (mailauth), RFC 2047 / 2919 / 5321 header limits, the transfer encoding of CJK parts,
 * format=flowed text, and Python's strict `email` parser.
 */

const zhDaily = readFileSync(new URL('./fixtures/digests/zh-daily.md', import.meta.url), 'utf8');
const LIST = { id: 3, slug: 'ai-daily', name: 'AI 日报' };

let template: IssueTemplate;
beforeAll(async () => {
  template = await compileIssue(parseDigest(zhDaily, 'zh-daily.md'), {
    config: renderTestConfig(),
    list: LIST,
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs a Python 3 snippet with `input` on stdin; its stdout, or the test fails with its stderr. */
function python(code: string, input: Buffer): string {
  const run = spawnSync('python3', ['-c', code], { input, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return run.stdout;
}

function builderWith(extra: Record<string, string> = {}): { builder: MessageBuilder; signer: TokenSigner } {
  const config = renderTestConfig(extra);
  const signer = new TokenSigner(config.SECRET_KEY);
  return { builder: new MessageBuilder(config, signer), signer };
}

/** The DNS TXT record a domain would publish for this public key (RFC 6376 §3.6.1, RFC 8463). */
function dkimTxtRecord(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  if (publicKey.asymmetricKeyType === 'ed25519') {
    // RFC 8463: the bare 32-byte key, not the SPKI structure.
    return `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString('base64')}`;
  }
  return `v=DKIM1; k=rsa; p=${der.toString('base64')}`;
}

/** mailauth's verdict on a message, with the selector's key served from memory instead of DNS. */
async function mailauthDkim(raw: Buffer, publicKey: KeyObject): Promise<string[]> {
  const record = dkimTxtRecord(publicKey);
  const result = await dkimVerify(raw, {
    resolver: async (name: string, type: string) => {
      if (type === 'TXT' && name === 'dm1._domainkey.example.org') return [[record]];
      throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
    },
  });
  return result.results.map((r) => r.status.result);
}

describe('DKIM, checked by an independent verifier (mailauth)', () => {
  it.each(['rsa', 'ed25519'] as const)(
    'a %s signature still verifies when building the message crosses a second boundary',
    async (type) => {
      const pair =
        type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
      const { builder } = builderWith({
        DKIM_DOMAIN: 'example.org',
        DKIM_SELECTOR: 'dm1',
        DKIM_PRIVATE_KEY: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      });
      const issue = { id: 7, template, list: LIST };
      const recipient = { email: 'r@example.com', name: 'Ann', subscriberId: 1, deliveryId: 5 };

      // A clock that moves a whole second every time it is read: whatever reads the time more than
      // once while building one message sees two different seconds, as a real build does ~40 times
      // in a million.
      let now = Date.UTC(2026, 11, 1, 9, 0, 0, 999);
      vi.spyOn(Date, 'now').mockImplementation(() => {
        now += 1000;
        return now;
      });
      const straddling = builder.build(issue, recipient);
      const transactional = builder.buildTransactional({
        to: 'r@example.com',
        subject: 'Bitte bestätigen',
        html: '<p>Hallo</p>',
        text: 'Hallo\n',
        kind: 'confirm',
      });
      vi.restoreAllMocks();

      expect(await mailauthDkim(straddling.raw, pair.publicKey)).toEqual(['pass']);
      // Folded headers (a long CJK subject and name in several encoded words) verify as well.
      const folded = builder.build(
        { ...issue, template: { ...template, subject: `AI 日报 ${'人工智能每日精选'.repeat(10)}` } },
        { ...recipient, name: '欧阳·司马长名字的读者朋友们大家好' },
      );
      expect(folded.raw.toString('utf8')).toMatch(/^Subject: =\?UTF-8\?B\?.*\?=\r\n =\?UTF-8/m);
      expect(await mailauthDkim(folded.raw, pair.publicKey)).toEqual(['pass']);
      expect(await mailauthDkim(transactional.raw, pair.publicKey)).toEqual(['pass']);
      // The verifier can say no: a changed Date header no longer verifies.
      const tampered = straddling.raw
        .toString('utf8')
        .replace(/^Date: .*$/m, 'Date: Tue, 01 Dec 2026 09:59:59 +0000');
      expect(await mailauthDkim(Buffer.from(tampered), pair.publicKey)).not.toEqual(['pass']);
    },
  );
});

/** The header block of a raw message, one string per physical line. */
function headerLines(raw: Buffer): string[] {
  const text = raw.toString('utf8');
  return text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
}

/** Unfolded header fields, name in lower case. */
function headerField(raw: Buffer, name: string): string | undefined {
  const unfolded = raw
    .toString('utf8')
    .slice(0, raw.indexOf('\r\n\r\n'))
    .replace(/\r\n(?=[ \t])/g, '');
  const line = unfolded.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

describe('header syntax', () => {
  const longSubject =
    'AI 日报 · 第 128 期：OpenAI 发布新一代推理模型，谷歌更新 Gemini 多模态能力，国内大模型价格战继续升级，开源社区迎来新一轮发布潮';
  const longName = '晨读科技 · 人工智能与前沿技术每日精选简报编辑部';

  it('encoded-word lines of a long CJK Subject, From and To stay within 76 characters and decode back', async () => {
    const { builder } = builderWith({ MAIL_FROM: `${longName} <news@example.org>` });
    const issue = { id: 7, template: { ...template, subject: longSubject }, list: LIST };
    const recipient = {
      email: 'reader@example.com',
      name: '欧阳·司马长名字的读者朋友们大家好',
      subscriberId: 1,
    };
    for (const message of [
      builder.build(issue, { ...recipient, deliveryId: 1 }),
      builder.build(issue, recipient, { test: true }),
      builder.buildTransactional({
        to: 'r@example.com',
        subject: longSubject,
        html: '<p>x</p>',
        text: 'x',
        kind: 'confirm',
      }),
    ]) {
      const encodedLines = headerLines(message.raw).filter((l) => l.includes('=?'));
      expect(encodedLines.length).toBeGreaterThan(2);
      for (const line of encodedLines) expect(line.length, line).toBeLessThanOrEqual(76);
      const parsed = await simpleParser(message.raw);
      expect(parsed.subject).toMatch(new RegExp(`${longSubject}$`));
      expect(parsed.from?.value[0]).toEqual({ address: 'news@example.org', name: longName });
    }
    const parsed = await simpleParser(builder.build(issue, { ...recipient, deliveryId: 1 }).raw);
    expect(parsed.to && 'value' in parsed.to ? parsed.to.value[0]?.name : '').toBe(recipient.name);
  });

  it('List-Id with specials in the list name is a quoted phrase (RFC 2919, RFC 5322 phrase)', async () => {
    const { builder } = builderWith();
    const list = { id: 4, slug: 'tech-news', name: 'Tech News: Weekly, by Example <Team>' };
    const message = builder.build(
      { id: 8, template, list },
      { email: 'r@example.com', name: null, subscriberId: 1 },
    );
    expect(headerField(message.raw, 'List-Id')).toBe(
      '"Tech News: Weekly, by Example <Team>" <tech-news.example.org>',
    );
    const plain = builder.build(
      { id: 9, template, list: { id: 5, slug: 'weekly', name: 'Weekly Digest' } },
      { email: 'r@example.com', name: null, subscriberId: 1 },
    );
    expect(headerField(plain.raw, 'List-Id')).toBe('Weekly Digest <weekly.example.org>');
    // Python's strict parser reads the list id back from the quoted form.
    const listId = python(
      'import email,sys\nfrom email import policy\nm=email.message_from_binary_file(sys.stdin.buffer,policy=policy.strict)\nprint(m["List-Id"].addresses[0].display_name if hasattr(m["List-Id"],"addresses") else m["List-Id"])',
      message.raw,
    ).trim();
    expect(listId).toBe('"Tech News: Weekly, by Example <Team>" <tech-news.example.org>');
  });

  it.each([1, 123_456_789, Number.MAX_SAFE_INTEGER])(
    'a VERP envelope sender from newsletter-bounces@… keeps its local part within 64 octets (delivery %i)',
    (deliveryId) => {
      const { builder } = builderWith({
        VERP: 'true',
        BOUNCE_ADDRESS: 'newsletter-bounces@mail.example.org',
      });
      const from = builder.envelopeFrom(deliveryId);
      expect(Buffer.byteLength(from.slice(0, from.lastIndexOf('@')))).toBeLessThanOrEqual(64);
      expect(parseVerpAddress(from, renderTestConfig().SECRET_KEY)).toBe(deliveryId);
    },
  );

  it('a bounce address too long to carry the VERP tag is a setting error at start', () => {
    expect(() => builderWith({ VERP: 'true', BOUNCE_ADDRESS: `${'b'.repeat(40)}@mail.example.org` })).toThrow(
      /invalid setting BOUNCE_ADDRESS: .*at most 35 characters/,
    );
    // Without VERP the same address is fine.
    expect(() => builderWith({ BOUNCE_ADDRESS: `${'b'.repeat(40)}@mail.example.org` })).not.toThrow();
  });
});

/**
 * The text/plain part as Python's strict parser sees it: Content-Type parameters and the payload
 * with the transfer encoding undone (but not the flowed format, so real line lengths show).
 */
function strictTextPart(raw: Buffer): { params: Record<string, string>; lines: string[] } {
  const out = python(
    [
      'import email, json, sys',
      'from email import policy',
      'm = email.message_from_binary_file(sys.stdin.buffer, policy=policy.strict)',
      'p = next(x for x in m.walk() if x.get_content_type() == "text/plain")',
      'print(json.dumps({"params": dict(p["Content-Type"].params), "text": p.get_payload(decode=True).decode("utf-8")}))',
    ].join('\n'),
    raw,
  );
  const { params, text } = JSON.parse(out) as { params: Record<string, string>; text: string };
  return { params, lines: text.split(/\r\n|\n/) };
}

/** A line allowed past 78 characters: nothing but one URL (and a flowed line's trailing space). */
const URL_ONLY = /^\s*(?:https?:\/\/|mailto:)\S+ ?$/;

describe('the text part', () => {
  const sources: [string, string][] = [
    ['zh-daily', zhDaily],
    ['en-weekly', readFileSync(new URL('./fixtures/digests/en-weekly.md', import.meta.url), 'utf8')],
    ...['2026-11-30-ai-daily.md', '2026-11-30-tech-weekly.md'].map((f): [string, string] => [
      f,
      readFileSync(new URL(`../examples/digests/${f}`, import.meta.url), 'utf8'),
    ]),
  ];

  it.each(sources)(
    '%s: format=flowed, no line over 78 characters but a bare URL, and a flowed reader gets the paragraphs back',
    async (name, source) => {
      const digest = parseDigest(source, `${name}.md`);
      const issueTemplate = await compileIssue(digest, { config: renderTestConfig(), list: LIST });
      const { builder } = builderWith();
      const message = builder.build(
        { id: 7, template: issueTemplate, list: LIST },
        {
          email: 'reader@example.com',
          name: 'Alexandra Konstantinopoulou-Papadimitriou',
          subscriberId: 1,
          deliveryId: 1,
        },
      );
      const { params, lines } = strictTextPart(message.raw);
      expect(params.format).toBe('flowed');
      expect(params.delsp).toBe('yes');
      const long = lines.filter((l) => l.length > 78 && !URL_ONLY.test(l));
      expect(long).toEqual([]);
      // Every URL is whole on one line.
      for (const item of digest.items)
        if (item.url) expect(lines.some((l) => l.includes(item.url!))).toBe(true);

      // mailparser undoes format=flowed: every paragraph of the digest is back in one piece.
      const parsed = await simpleParser(message.raw);
      const text = parsed.text ?? '';
      for (const item of digest.items) {
        for (const line of (item.summaryText ?? '').split('\n')) expect(text).toContain(line.trim());
        expect(text).toContain(item.headline);
      }
      expect(text).toContain(builder.links({ id: 7, list: LIST }, { subscriberId: 1 }).unsubscribeUrl);
    },
  );
});

describe("Python's strict email parser", () => {
  it('reads issue, test and transactional messages without a single defect', async () => {
    const { builder } = builderWith({
      VERP: 'true',
      REPLY_TO: 'Editors: "The Desk" <desk@example.org>',
      MAIL_FROM: '晨读科技 · 人工智能与前沿技术每日精选简报编辑部 <news@example.org>',
    });
    const mail = await renderSystemMail('confirm', {
      lang: 'zh-CN',
      listNames: ['AI 日报'],
      name: '李雷',
      actionUrl: `https://news.example.org/confirm/${'x'.repeat(140)}`,
      config: renderTestConfig(),
    });
    const messages = [
      builder.build(
        { id: 7, template, list: LIST },
        { email: 'r@example.com', name: '张三', subscriberId: 1, deliveryId: 9 },
      ),
      builder.build(
        { id: 7, template, list: LIST },
        { email: 'r@example.com', name: null, subscriberId: 1 },
        { test: true },
      ),
      builder.buildTransactional({ to: 'lilei@example.com', ...mail, kind: 'confirm' }),
    ];
    for (const message of messages) {
      const report = JSON.parse(
        python(
          [
            'import email, json, sys',
            'from email import policy',
            'm = email.message_from_binary_file(sys.stdin.buffer, policy=policy.strict)',
            'defects = [type(d).__name__ for p in m.walk() for d in p.defects]',
            'for k, v in m.items(): defects += [type(d).__name__ for d in getattr(v, "defects", ())]',
            'parts = [(p.get_content_type(), p.get("Content-Transfer-Encoding"), p.get_content_charset()) for p in m.walk()]',
            'text = next(p for p in m.walk() if p.get_content_type() == "text/plain").get_content()',
            'print(json.dumps({"defects": defects, "parts": parts, "subject": str(m["Subject"]), "text": text}))',
          ].join('\n'),
          message.raw,
        ),
      ) as { defects: string[]; parts: string[][]; subject: string; text: string };
      expect(report.defects).toEqual([]);
      expect(report.parts.map((p) => p[0])).toEqual(['multipart/alternative', 'text/plain', 'text/html']);
      expect(report.parts.slice(1).every((p) => p[2] === 'utf-8')).toBe(true);
      expect(report.subject.length).toBeGreaterThan(0);
    }
    // The confirmation text is flowed as well, and its long link is whole on one line.
    const { lines, params } = strictTextPart(messages[2]!.raw);
    expect(params.format).toBe('flowed');
    expect(lines.filter((l) => l.length > 78 && !URL_ONLY.test(l))).toEqual([]);
    expect(lines.some((l) => l.includes(`/confirm/${'x'.repeat(140)}`))).toBe(true);
  });
});

describe('transfer encoding and size on the wire', () => {
  it('a 60-item Chinese issue goes out base64 (not quoted-printable at ~9 bytes a character), and its sizes are reported', async () => {
    const digest = parseDigest(manyItemsDigest(60), 'sixty.md');
    const big = await compileIssue(digest, { config: renderTestConfig(), list: LIST });
    const { builder } = builderWith();
    const issue = { id: 7, template: big, list: LIST };
    const recipient = { email: 'reader@example.com', name: '张三', subscriberId: 1, deliveryId: 2 };
    const message = builder.build(issue, recipient);
    const sizes = htmlPartSizes(message.raw);
    const personal = builder.personalise(issue, recipient);
    // The decoded size is the HTML itself (line breaks as CRLF, as MIME has them); as sent, base64
    // adds a third and its line breaks, no more.
    expect(sizes.decoded).toBe(Buffer.byteLength(personal.html.replace(/\n$/, '').replace(/\n/g, '\r\n')));
    expect(sizes.sent).toBeLessThanOrEqual(Math.ceil(sizes.decoded / 57) * 78);
    expect(sizes.encoding).toBe('base64');
    const { parts } = strictParts(message.raw);
    expect(parts).toEqual([
      ['text/plain', 'base64'],
      ['text/html', 'base64'],
    ]);
    // And the reader still gets exactly the HTML and text.
    const parsed = await simpleParser(message.raw);
    expect(parsed.html).toBe(personal.html.replace(/\n$/, ''));
    expect(parsed.text?.trimEnd()).toBe(personal.text.trimEnd());
  });

  it('the base64 body spliced around slot values of every length decodes to exactly the personal HTML and text', async () => {
    const big = await compileIssue(parseDigest(manyItemsDigest(8), 'eight.md'), {
      config: renderTestConfig(),
      list: LIST,
    });
    const { builder } = builderWith();
    const issue = { id: 7, template: big, list: LIST };
    for (const [i, name] of [null, 'A', 'Ab', 'Abc', '张', '张三', 'Zoë', '韩梅梅 Han'].entries()) {
      const recipient = { email: 'reader@example.com', name, subscriberId: i * 37, deliveryId: i };
      const message = builder.build(issue, recipient);
      expect(htmlPartSizes(message.raw).encoding).toBe('base64');
      const personal = builder.personalise(issue, recipient);
      const parsed = await simpleParser(message.raw);
      expect(parsed.html).toBe(personal.html.replace(/\n$/, ''));
      expect(parsed.text?.trimEnd()).toBe(personal.text.trimEnd());
      const body = message.raw.toString('latin1').split('\r\n');
      expect(body.every((l) => l.length <= 998)).toBe(true);
      expect(body.slice(body.indexOf('')).every((l) => l.length <= 76)).toBe(true);
    }
  });

  it('an English issue stays quoted-printable, the smaller of the two for mostly-ASCII text', async () => {
    const en = readFileSync(new URL('./fixtures/digests/en-weekly.md', import.meta.url), 'utf8');
    const compiled = await compileIssue(parseDigest(en, 'en-weekly.md'), {
      config: renderTestConfig(),
      list: LIST,
    });
    const { builder } = builderWith();
    const message = builder.build(
      { id: 7, template: compiled, list: LIST },
      { email: 'reader@example.com', name: 'Ann', subscriberId: 1, deliveryId: 2 },
    );
    const sizes = htmlPartSizes(message.raw);
    expect(sizes.encoding).toBe('quoted-printable');
    expect(sizes.sent).toBeLessThan(Math.ceil(sizes.decoded / 57) * 78);
    expect(strictParts(message.raw).parts.map((p) => p[1])).toEqual(['quoted-printable', 'quoted-printable']);
  });

  it('confirmation mail in Chinese picks base64 per part too', async () => {
    const { builder } = builderWith();
    const mail = await renderSystemMail('confirm', {
      lang: 'zh-CN',
      listNames: ['AI 日报'],
      name: '李雷',
      actionUrl: 'https://news.example.org/confirm/abc',
      config: renderTestConfig(),
    });
    const message = builder.buildTransactional({ to: 'lilei@example.com', ...mail, kind: 'confirm' });
    const sizes = htmlPartSizes(message.raw);
    expect(sizes.sent).toBeLessThanOrEqual(Math.ceil(sizes.decoded / 57) * 78);
    const parsed = await simpleParser(message.raw);
    expect(parsed.html).toBe(mail.html);
  });
});

/** Content type and transfer encoding of each leaf part, as Python's strict parser reads them. */
function strictParts(raw: Buffer): { parts: [string, string][] } {
  const out = python(
    [
      'import email, json, sys',
      'from email import policy',
      'm = email.message_from_binary_file(sys.stdin.buffer, policy=policy.strict)',
      'print(json.dumps([[p.get_content_type(), str(p["Content-Transfer-Encoding"])] for p in m.walk() if not p.is_multipart()]))',
    ].join('\n'),
    raw,
  );
  return { parts: JSON.parse(out) as [string, string][] };
}
