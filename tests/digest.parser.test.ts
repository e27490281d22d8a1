import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../src/core/errors.ts';
import { loadDigest, parseDigest } from '../src/digest/digest.parser.ts';
import { detectLanguage } from '../src/digest/language.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/digests/${name}`, import.meta.url), 'utf8');
const fixturePath = (name: string) => new URL(`./fixtures/digests/${name}`, import.meta.url).pathname;

function digestError(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isAppError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected an error');
}

describe('parseDigest on a Chinese daily', () => {
  const digest = parseDigest(fixture('zh-daily.md'), 'zh-daily.md');

  it('reads the front matter, keeping the date as written with its own offset', () => {
    expect(digest.title).toBe('2025.11.12 全球AI新闻速递');
    expect(digest.dateText).toBe('2025-11-12T07:00:00+08:00');
    expect(digest.offset).toBe('+08:00');
    expect(digest.offsetMinutes).toBe(480);
    expect(digest.date.toISOString()).toBe('2025-11-11T23:00:00.000Z');
    // In UTC it is still the 11th; the digest is the 12th in its own offset.
    expect(digest.day).toBe('2025-11-12');
    expect(digest.categories).toEqual(['人工智能', '机器人', '半导体', '隐私']);
    expect(digest.subject).toBe(digest.title);
    expect(digest.draft).toBe(false);
    expect(digest.lists).toBeUndefined();
  });

  it('detects Simplified Chinese when lang is not given', () => {
    expect(digest.lang).toBe('zh-CN');
    expect(digest.langSource).toBe('detected');
    expect(digest.dir).toBe('ltr');
  });

  it('splits the body into intro, six linked items and commentary', () => {
    expect(digest.intro.text).toMatch(/^今天的动态集中在三个方向/);
    expect(digest.items).toHaveLength(6);
    const first = digest.items[0]!;
    expect(first.headline).toBe('某机器人公司宣布人形机器人进入汽车总装线试运行');
    expect(first.url).toBe('https://www.example-robotics.com/news/humanoid-assembly-pilot');
    expect(first.sourceDomain).toBe('example-robotics.com');
    expect(first.summaryHtml).toContain('<strong>120 次抓取</strong>');
    expect(first.summaryText).toContain('单台每小时可完成约 120 次抓取');
    expect(first.line).toBe(11);
    expect(digest.commentary.text).toMatch(/^今天最值得关注的，其实是第二条。/);
    expect(digest.commentary.text).toMatch(/后续进展。$/);
  });

  it('drops no prose: every paragraph of the body appears in intro, items or commentary', () => {
    const body = fixture('zh-daily.md').split(/^---$/m).slice(2).join('\n');
    const paragraphs = body
      .split(/\n\s*\n/)
      .map((p) => p.trim())
      .filter((p) => p && p !== '---' && !/^\d+\.\s+\[/.test(p));
    const all = [digest.intro.text, ...digest.items.map((i) => i.summaryText), digest.commentary.text].join(
      '\n',
    );
    for (const p of paragraphs) {
      const plain = p.replace(/\*\*|\*/g, '');
      expect(all).toContain(plain.slice(0, 30));
    }
  });

  it('records the source and its sha256', () => {
    expect(digest.source).toBe(fixture('zh-daily.md'));
    expect(digest.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('dates keep their own offset', () => {
  const withDate = (date: string) => `---\ntitle: T\ndate: ${date}\n---\n\nHello.\n`;

  it('a digest dated 07:00 at +08:00 is that day whatever zone the server uses', () => {
    for (const timeZone of ['UTC', 'America/Los_Angeles', 'Asia/Shanghai', 'Pacific/Kiritimati']) {
      const d = parseDigest(withDate('2025-11-10T07:00:00+08:00'), 'd.md', { timeZone });
      expect(d.day).toBe('2025-11-10');
      expect(d.date.toISOString()).toBe('2025-11-09T23:00:00.000Z');
    }
  });

  it('a date without an offset is read in the configured zone', () => {
    const d = parseDigest(withDate('2025-11-10'), 'd.md', { timeZone: 'Asia/Shanghai' });
    expect(d.day).toBe('2025-11-10');
    expect(d.offset).toBe('+08:00');
    expect(d.date.toISOString()).toBe('2025-11-09T16:00:00.000Z');
    const ny = parseDigest(withDate('2025-07-01T09:30'), 'd.md', { timeZone: 'America/New_York' });
    expect(ny.offset).toBe('-04:00');
    expect(ny.date.toISOString()).toBe('2025-07-01T13:30:00.000Z');
  });

  it('Z and negative offsets are understood', () => {
    expect(parseDigest(withDate('2025-11-10T23:30:00Z'), 'd.md').offset).toBe('+00:00');
    const west = parseDigest(withDate('2025-11-10T23:30:00-05:00'), 'd.md');
    expect(west.day).toBe('2025-11-10');
    expect(west.date.toISOString()).toBe('2025-11-11T04:30:00.000Z');
  });
});

describe('optional front matter', () => {
  it('reads subject, preheader, lists, send_at and lang', () => {
    const d = parseDigest(fixture('en-weekly.md'), 'en-weekly.md');
    expect(d.subject).toBe('Signals #42 — robots on the line, packaging bottlenecks');
    expect(d.preheader).toMatch(/^Humanoid robots start/);
    expect(d.lists).toEqual(['signals']);
    expect(d.sendAt?.toISOString()).toBe('2025-11-15T14:00:00.000Z');
    expect(d.lang).toBe('en');
    expect(d.day).toBe('2025-11-14');
  });

  it('lang from the front matter wins over detection, and is normalised', () => {
    const d = parseDigest(
      '---\ntitle: T\ndate: 2025-11-10\nlang: zh-cn\ndraft: true\n---\n\nEnglish words only.\n',
      'd.md',
    );
    expect(d.lang).toBe('zh-CN');
    expect(d.langSource).toBe('front-matter');
    expect(d.draft).toBe(true);
  });

  it('without a preheader, the start of the intro is used', () => {
    const d = parseDigest(fixture('zh-daily.md'), 'zh-daily.md');
    expect(d.preheader.startsWith('今天的动态集中在三个方向')).toBe(true);
    expect(Array.from(d.preheader).length).toBeLessThanOrEqual(110);
  });
});

describe('language detection', () => {
  it.each([
    ['今天的新闻很多，我们挑了最重要的三条。', 'zh-CN'],
    ['今日のニュースをお届けします。', 'ja'],
    ['오늘의 뉴스를 전해 드립니다.', 'ko'],
    ['مرحبًا بكم في نشرة هذا الأسبوع', 'ar'],
    ['Welcome to this week in AI.', 'en'],
  ])('%s → %s', (text, lang) => {
    expect(detectLanguage(text)).toBe(lang);
  });

  it('right-to-left digests get dir=rtl', () => {
    const d = parseDigest(fixture('rtl.md'), 'rtl.md');
    expect(d.lang).toBe('ar');
    expect(d.dir).toBe('rtl');
  });
});

describe('emphasis next to CJK punctuation (markdown-it-cjk-friendly)', () => {
  const html = (md: string) =>
    parseDigest(`---\ntitle: T\ndate: 2025-11-10\n---\n\n${md}\n`, 'd.md').intro.html;

  it.each([
    ['这是**“动态推理”**功能', '<strong>“动态推理”</strong>'],
    ['**性能提升了10倍。**此举意在', '<strong>性能提升了10倍。</strong>'],
    ['它的**重要性（importance）**不言而喻', '<strong>重要性（importance）</strong>'],
    ['日本語の**「強調」**です', '<strong>「強調」</strong>'],
    ['한국어 **“강조”**입니다', '<strong>“강조”</strong>'],
    ['中文*斜体，*后文', '<em>斜体，</em>'],
  ])('%s', (source, expected) => {
    expect(html(source)).toContain(expected);
  });
});

describe('item shapes', () => {
  it('an item without a link keeps its first line as the headline and has no URL', () => {
    const d = parseDigest(fixture('no-link-item.md'), 'no-link-item.md');
    expect(d.items.map((i) => i.headline)).toEqual([
      'A linked story',
      'An announcement without a link',
      'Another linked story',
    ]);
    expect(d.items[1]!.url).toBeUndefined();
    expect(d.items[1]!.summaryText).toContain('new sending domain');
    // A tight item: the summary follows the headline on the next line.
    expect(d.items[2]!.summaryText).toBe('A tight item whose summary follows on the next line.');
  });

  it('a single-item digest has one item', () => {
    const d = parseDigest(fixture('one-item.md'), 'one-item.md');
    expect(d.items).toHaveLength(1);
    expect(d.commentary.html).toBe('');
  });

  it('nested lists, code, tables and images inside items are kept', () => {
    const nested = parseDigest(fixture('nested-lists.md'), 'nested-lists.md');
    expect(nested.intro.text).toContain('      - config keys renamed');
    expect(nested.items[0]!.summaryText).toContain('2. Take a snapshot');
    expect(nested.items[0]!.summaryHtml).toContain('<ol');
    const code = parseDigest(fixture('code.md'), 'code.md');
    expect(code.intro.html).toContain('<code style=');
    expect(code.items[0]!.summaryHtml).toContain('<pre class="dm-code"');
    expect(code.items[1]!.summaryText).toContain('    indented code block\n      keeps its indentation');
    const tables = parseDigest(fixture('tables.md'), 'tables.md');
    expect(tables.intro.html).toContain('<table');
    expect(tables.intro.text).toContain('模型 C | 200K | ¥7 / ¥28 | 中文表现最好');
    const images = parseDigest(fixture('images.md'), 'images.md');
    expect(images.items[0]!.summaryHtml).toContain(
      'src="https://images.example.org/satellite/tile-0001.jpg"',
    );
    expect(images.items[0]!.summaryHtml).toContain('max-width:100%');
  });

  it('emoji survive intact', () => {
    const d = parseDigest(fixture('emoji.md'), 'emoji.md');
    expect(d.title).toBe('🚀 Launch week 🎉');
    expect(d.intro.text).toContain('👨‍👩‍👧‍👦');
    expect(d.items[0]!.headline).toBe('Day 1: 🤖 a robot that folds laundry');
  });
});

describe('broken digests name the file, the line and the field', () => {
  it.each([
    ['no front matter', '# Just a heading\n\nText.\n', 'broken.md:1: front matter: missing'],
    [
      'bad YAML',
      '---\ntitle: T\ndate: 2025-11-10\ncategories: [a, b\n---\n\nx\n',
      'broken.md:4: front matter: invalid YAML',
    ],
    [
      'missing title',
      '---\ndate: 2025-11-10\n---\n\nx\n',
      'broken.md:1: title: missing from the front matter',
    ],
    [
      'empty title',
      '---\ntitle:\ndate: 2025-11-10\n---\n\nx\n',
      'broken.md:2: title: missing from the front matter',
    ],
    ['missing date', '---\ntitle: T\n---\n\nx\n', 'broken.md:1: date: missing from the front matter'],
    [
      'unparseable date',
      '---\ntitle: T\ncategories: [a]\ndate: next tuesday\n---\n\nx\n',
      'broken.md:4: date: "next tuesday" is not a date',
    ],
    [
      'impossible date',
      '---\ntitle: T\ndate: 2025-02-30\n---\n\nx\n',
      'broken.md:3: date: "2025-02-30" is not a date',
    ],
    ['bad send_at', '---\ntitle: T\ndate: 2025-11-10\nsend_at: soon\n---\n\nx\n', 'broken.md:4: send_at:'],
    ['bad lang', '---\ntitle: T\ndate: 2025-11-10\nlang: "chinese please"\n---\n\nx\n', 'broken.md:4: lang:'],
    [
      'bad draft',
      '---\ntitle: T\ndate: 2025-11-10\ndraft: maybe\n---\n\nx\n',
      'broken.md:4: draft: expected true or false',
    ],
    ['not a mapping', '---\n- a\n- b\n---\n\nx\n', 'broken.md:2: front matter:'],
  ])('%s', (_name, source, expected) => {
    const error = digestError(() => parseDigest(source, 'broken.md'));
    expect(error.code).toBe('digest.invalid');
    expect(error.message.startsWith(expected)).toBe(true);
    expect(error.message).not.toContain('\n');
  });

  it('a missing file is digest.not_found', async () => {
    await expect(loadDigest(fixturePath('no-such-digest.md'))).rejects.toMatchObject({
      code: 'digest.not_found',
    });
  });

  it('loadDigest reads a file and names it in the digest', async () => {
    const d = await loadDigest(fixturePath('one-item.md'));
    expect(d.fileName).toBe(fixturePath('one-item.md'));
    expect(d.items).toHaveLength(1);
  });
});
