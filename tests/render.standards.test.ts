import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dkimVerify } from 'mailauth';
import { simpleParser } from 'mailparser';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { MessageBuilder, parseVerpAddress } from '../src/render/message.builder.ts';
import type { IssueTemplate } from '../src/render/render.types.ts';
import { TokenSigner } from '../src/subscriptions/tokens.ts';
import { renderTestConfig } from './fixtures/digests/config.ts';

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
