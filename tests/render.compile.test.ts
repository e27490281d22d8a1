import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import type { Digest } from '../src/digest/digest.types.ts';
import { unwrapFlowed } from '../src/render/flowed.text.ts';
import { compileIssue, fillSlots } from '../src/render/issue.compiler.ts';
import { compileMjml } from '../src/render/mjml.compiler.ts';
import type { IssueTemplate } from '../src/render/render.types.ts';
import { escapeHtml } from '../src/core/html.text.ts';
import { verifyTemplates } from '../src/render/templates.verify.ts';
import { renderTestConfig } from './fixtures/digests/config.ts';
import { hugeDigest, manyItemsDigest } from './fixtures/digests/generated.ts';

const config = renderTestConfig();
const list = { slug: 'ai-daily', name: 'AI 日报' };
const dir = new URL('./fixtures/digests/', import.meta.url);
const fixtureNames = readdirSync(dir).filter((f) => f.endsWith('.md'));
const source = (name: string) => readFileSync(new URL(name, dir), 'utf8');

const SAMPLE = {
  greeting: 'Hi Ada,',
  webUrl: 'https://news.example.org/archive/1',
  preferencesUrl: 'https://news.example.org/preferences/PREFTOKEN',
  unsubscribeUrl: 'https://news.example.org/unsubscribe/UNSUBTOKEN',
};

async function render(
  src: string,
  name: string,
): Promise<{ digest: Digest; t: IssueTemplate; html: string; text: string }> {
  const digest = parseDigest(src, name);
  const t = await compileIssue(digest, { config, list });
  return { digest, t, html: fillSlots(t.html, SAMPLE), text: unwrapFlowed(fillSlots(t.text, SAMPLE)) };
}

const cases: [string, () => string][] = [
  ...fixtureNames.map((n) => [n, () => source(n)] as [string, () => string]),
  ['60 generated items', () => manyItemsDigest(60)],
  ['a 2 MB digest', () => hugeDigest(2 * 1024 * 1024)],
];

describe('every fixture digest renders, with every headline and URL in both parts', () => {
  it.each(cases)('%s', async (name, make) => {
    const { digest, html, text } = await render(make(), name);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    for (const item of digest.items) {
      expect(html).toContain(item.headlineHtml);
      expect(text).toContain(item.headline);
      if (item.url) {
        expect(html).toContain(`href="${escapeHtml(item.url)}"`);
        expect(text).toContain(item.url);
      }
    }
    // The footer links are in both parts.
    for (const url of [SAMPLE.webUrl, SAMPLE.preferencesUrl, SAMPLE.unsubscribeUrl]) {
      expect(html).toContain(`href="${url}"`);
      expect(text).toContain(url);
    }
  });

  it('the 2 MB digest keeps all of its items', async () => {
    const src = hugeDigest(2 * 1024 * 1024);
    expect(Buffer.byteLength(src)).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    const { digest } = await render(src, 'huge.md');
    expect(digest.items.length).toBe((src.match(/^\d+\.\s+\[Item/gm) ?? []).length);
  });
});

describe('the Chinese daily', () => {
  let digest: Digest;
  let t: IssueTemplate;
  let html: string;
  let text: string;
  beforeAll(async () => {
    ({ digest, t, html, text } = await render(source('zh-daily.md'), 'zh-daily.md'));
  });

  it('has lang, a title, a preheader, a CJK font stack and dark-mode support', () => {
    expect(html).toMatch(/<html lang="zh-CN" dir="ltr"/);
    expect(html).toContain(`<title>${escapeHtml(digest.title)}</title>`);
    expect(html).toContain(escapeHtml(digest.preheader));
    expect(html).toContain('<meta name="color-scheme" content="light dark"');
    expect(html).toContain('@media (prefers-color-scheme: dark)');
    expect(html).toMatch(/font-family:[^;"]*'PingFang SC'[^;"]*'Microsoft YaHei'[^;"]*'Noto Sans CJK SC'/);
    expect(t.lang).toBe('zh-CN');
  });

  it('renders each item as its own block with number, source domain, headline link and summary', () => {
    const blocks = html.split('<div class="dm-item">').slice(1);
    expect(blocks).toHaveLength(digest.items.length);
    digest.items.forEach((item, i) => {
      const block = blocks[i]!;
      expect(block).toContain(`>${String(i + 1).padStart(2, '0')}</span>`);
      expect(block).toContain(item.sourceDomain!);
      expect(block).toContain(`<a class="dm-headline" href="${escapeHtml(item.url!)}"`);
      expect(block).toContain(item.summaryHtml.slice(0, 80));
    });
  });

  it('speaks Chinese in the footer, with the sender identity and postal address', () => {
    for (const words of [
      '在浏览器中查看',
      '订阅偏好',
      '退订',
      '编辑点评',
      '您收到这封邮件，是因为您订阅了「AI 日报」。',
    ]) {
      expect(html).toContain(words);
    }
    expect(html).toContain(escapeHtml(config.ORG_NAME));
    expect(html).toContain(escapeHtml(config.POSTAL_ADDRESS));
    expect(text).toContain(config.POSTAL_ADDRESS);
    expect(text).toContain('退订: https://news.example.org/unsubscribe/UNSUBTOKEN');
    expect(html).not.toContain('Unsubscribe');
  });

  it('stays well under the Gmail clipping limit (< 40 KB)', () => {
    expect(Buffer.byteLength(source('zh-daily.md'))).toBeGreaterThan(4000);
    expect(Buffer.byteLength(html)).toBeLessThan(40 * 1024);
    expect(t.htmlBytes).toBeLessThan(40 * 1024);
  });

  it('the plain-text part carries the digest in reading order without markup', () => {
    const positions = [
      text.indexOf(digest.title),
      text.indexOf('Hi Ada,'),
      text.indexOf(digest.intro.text.slice(0, 20)),
      ...digest.items.map((i) => text.indexOf(i.headline)),
      text.indexOf(digest.commentary.text.slice(0, 20)),
    ];
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(text).not.toMatch(/<\/?(p|strong|a|div)\b/);
  });

  it('is JSON-serialisable: a stored template gives the same message', () => {
    const stored = JSON.parse(JSON.stringify(t)) as IssueTemplate;
    expect(stored).toEqual(t);
    expect(fillSlots(stored.html, SAMPLE)).toBe(html);
    expect(t.html.slots).toEqual(
      expect.arrayContaining(['greeting', 'webUrl', 'preferencesUrl', 'unsubscribeUrl']),
    );
    expect(t.html.parts).toHaveLength(t.html.slots.length + 1);
  });
});

describe('English digests', () => {
  it('use English strings', async () => {
    const { html, t } = await render(source('en-weekly.md'), 'en-weekly.md');
    expect(t.lang).toBe('en');
    expect(html).toMatch(/<html lang="en" dir="ltr"/);
    for (const words of ['View in browser', 'Preferences', 'Unsubscribe', 'Editor&#39;s notes'])
      expect(html).toContain(words);
    expect(html).not.toContain('退订');
    expect(t.subject).toBe('Signals #42 — robots on the line, packaging bottlenecks');
  });

  it('a right-to-left digest is marked dir="rtl"', async () => {
    const { html } = await render(source('rtl.md'), 'rtl.md');
    expect(html).toMatch(/<html lang="ar" dir="rtl"/);
  });
});

describe('Gmail clipping', () => {
  it('a 60-item digest stays under 102 KB', async () => {
    const { html, digest } = await render(manyItemsDigest(60), 'sixty.md');
    expect(digest.items).toHaveLength(60);
    expect(Buffer.byteLength(html)).toBeLessThan(102 * 1024);
  });
});

describe('templates fail loudly', () => {
  it('every template compiles under strict validation, in both languages', async () => {
    await expect(verifyTemplates(config)).resolves.toBeUndefined();
  });

  it('an MJML mistake is an error naming the template, not quietly broken mail', async () => {
    await expect(
      compileMjml('<mjml><mj-body><mj-section><mj-colum></mj-colum></mj-section></mj-body></mjml>', 'broken'),
    ).rejects.toMatchObject({
      code: 'render.template_invalid',
      message: expect.stringContaining('emails/broken.mjml'),
    });
    await expect(
      compileMjml(
        '<mjml><mj-body><mj-section><mj-column><mj-text padding="lots">x</mj-text></mj-column></mj-section></mj-body></mjml>',
        'broken',
      ),
    ).rejects.toMatchObject({ code: 'render.template_invalid' });
  });
});
