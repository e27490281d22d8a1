import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { LIST_STYLES, longListDigest, realDigestGrown } from './fixtures/digests/long-lists.ts';

const COUNTS = [9, 10, 12, 60, 120];

describe('a numbered list of any length is one list of items with their summaries', () => {
  for (const style of LIST_STYLES) {
    for (const lang of ['zh', 'en'] as const) {
      it.each(COUNTS)(`${style} style, ${lang}: %i items`, (count) => {
        const digest = parseDigest(longListDigest(count, style, lang), `${style}-${lang}-${count}.md`);
        expect(digest.items).toHaveLength(count);
        digest.items.forEach((item, index) => {
          const n = index + 1;
          expect(item.url).toBe(`https://news.example.org/${lang}/${n}`);
          expect(item.headline).toContain(String(n));
          expect(item.summaryHtml).toMatch(/^<p[ >]/);
          expect(item.summaryHtml).not.toContain('<pre');
          expect(item.summaryHtml).not.toContain('**');
          expect(item.summaryHtml).toContain(
            `<strong>${lang === 'zh' ? `加粗的第 ${n} 条重点` : `bold point ${n}`}</strong>`,
          );
        });
        // Nothing of the list leaked into the commentary, and nothing needed a warning.
        expect(digest.commentary.text).toBe(
          lang === 'zh' ? '以上就是今天的全部内容。' : 'That is all for today.',
        );
        expect(digest.notes).toEqual([]);
      });
    }
  }

  it('999 items in the shared style are all read', () => {
    const digest = parseDigest(longListDigest(999, 'shared', 'en'), 'big.md');
    expect(digest.items).toHaveLength(999);
    expect(digest.items[998]!.summaryText).toContain('story 999');
  });

  it('the real model-written digest grown to 60 items keeps all 60 and its commentary', () => {
    const digest = parseDigest(realDigestGrown(60), '2025-11-10-ai-news.md');
    expect(digest.items).toHaveLength(60);
    for (const item of digest.items) {
      expect(item.url).toMatch(/^https:\/\//);
      expect(item.summaryHtml).toMatch(/^<p[ >]/);
      expect(item.summaryHtml).not.toContain('<pre');
      expect(item.summaryHtml).not.toContain('**');
    }
    expect(digest.commentary.text).toMatch(/^今天的几条新闻串起来看，很有意思。/);
    expect(digest.notes).toEqual([]);
  });

  it('keeps each line where it was: item lines point at the editor’s file', () => {
    const source = longListDigest(12, 'shared', 'en');
    const digest = parseDigest(source, 'x.md');
    const lines = source.split('\n');
    for (const item of digest.items) expect(lines[item.line - 1]).toMatch(/^\d+\.\s+\[Story/);
  });

  it('tabs after the marker and before the summary are read as indentation', () => {
    const items = Array.from(
      { length: 11 },
      (_, i) => `${i + 1}.\t[Story ${i + 1}](https://e.org/${i + 1})\n\n\tSummary ${i + 1}.`,
    );
    const digest = parseDigest(`---\ntitle: T\ndate: 2025-11-10\n---\n\n${items.join('\n\n')}\n`, 'tabs.md');
    expect(digest.items).toHaveLength(11);
    expect(digest.items[10]!.summaryHtml).toMatch(/^<p[^>]*>Summary 11\.<\/p>$/);
  });

  it('nested lists and deeper code blocks inside items keep their meaning past item 9', () => {
    const items = Array.from(
      { length: 11 },
      (_, i) =>
        `${i + 1}.  [Story ${i + 1}](https://e.org/${i + 1})\n\n    Summary.\n\n        code\n\n    1. first step\n    2. second step`,
    );
    const digest = parseDigest(
      `---\ntitle: T\ndate: 2025-11-10\n---\n\n${items.join('\n\n')}\n`,
      'nested.md',
    );
    expect(digest.items).toHaveLength(11);
    // Item 11 reads exactly like item 1, whose marker is one column narrower.
    expect(digest.items[10]!.summaryHtml).toBe(digest.items[0]!.summaryHtml);
    expect(digest.items[10]!.summaryHtml).toMatch(/<pre[^>]*><code>code\n<\/code><\/pre>/);
    expect(digest.items[10]!.summaryHtml).toMatch(
      /<ol[^>]*>\s*<li[^>]*>\s*(?:<p[^>]*>)?first step(?:<\/p>)?\s*<\/li>\s*<li[^>]*>\s*(?:<p[^>]*>)?second step/,
    );
    // The deeper block is code the editor meant; it is still pointed out.
    expect(digest.notes.filter((n) => n.code === 'items.code_block')).toHaveLength(11);
  });
});

const digest = (body: string) => `---\ntitle: T\ndate: 2025-11-10\n---\n\n${body}`;

describe('nothing is dropped or moved without a note naming the line', () => {
  it('numbering that repeats or skips keeps every item, in order, with a note on each odd number', () => {
    const source = digest(
      [1, 2, 3, 3, 5]
        .map((n, i) => `${n}.  [Story ${i + 1}](https://e.org/${i + 1})\n\n    Summary ${i + 1}.`)
        .join('\n\n'),
    );
    const parsed = parseDigest(source, 'x.md');
    expect(parsed.items.map((item) => item.headline)).toEqual([
      'Story 1',
      'Story 2',
      'Story 3',
      'Story 4',
      'Story 5',
    ]);
    const lines = source.split('\n');
    const numbering = parsed.notes.filter((n) => n.code === 'items.numbering');
    expect(numbering.map((n) => lines[n.line - 1])).toEqual([
      '3.  [Story 4](https://e.org/4)',
      '5.  [Story 5](https://e.org/5)',
    ]);
    expect(parsed.warnings[0]).toMatch(/^x\.md:\d+: item numbered 3 where 4 was expected/);
  });

  it('numbering that restarts at 1 inside the list keeps the items in one list', () => {
    const numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];
    const source = digest(
      numbers.map((n, i) => `${n}. [Story ${i + 1}](https://e.org/${i + 1})\n   Summary.`).join('\n\n'),
    );
    const parsed = parseDigest(source, 'x.md');
    expect(parsed.items).toHaveLength(13);
    expect(parsed.notes.map((n) => n.code)).toEqual(['items.numbering']);
  });

  it('"1)" markers mixed with "1." are read as one list, with a note', () => {
    const source = digest('1. [A](https://e.org/a)\n\n2) [B](https://e.org/b)\n\n3. [C](https://e.org/c)\n');
    const parsed = parseDigest(source, 'x.md');
    expect(parsed.items).toHaveLength(3);
    expect(parsed.notes).toEqual([expect.objectContaining({ code: 'items.marker', line: 8 })]);
  });

  it('a heading between items: the items after it are a second list, and the note names both lines', () => {
    const source = digest(
      '1. [A](https://e.org/a)\n\n2. [B](https://e.org/b)\n\n## More news\n\n3. [C](https://e.org/c)\n\n4. [D](https://e.org/d)\n',
    );
    const parsed = parseDigest(source, 'x.md');
    expect(parsed.items).toHaveLength(2);
    const note = parsed.notes.find((n) => n.code === 'items.second_list')!;
    expect(note.line).toBe(source.split('\n').indexOf('3. [C](https://e.org/c)') + 1);
    expect(note.message).toContain(`heading on line ${source.split('\n').indexOf('## More news') + 1}`);
    expect(parsed.commentary.text).toContain('3. C <https://e.org/c>');
  });

  it('a second list of linked items after the commentary starts is pointed out', () => {
    const source = digest(
      '1. [A](https://e.org/a)\n2. [B](https://e.org/b)\n\nSome words in between.\n\n- [C](https://e.org/c)\n- [D](https://e.org/d)\n',
    );
    const parsed = parseDigest(source, 'x.md');
    expect(parsed.notes).toEqual([
      expect.objectContaining({
        code: 'items.second_list',
        line: source.split('\n').indexOf('- [C](https://e.org/c)') + 1,
      }),
    ]);
  });

  it('a heading inside an item is pointed out', () => {
    const source = digest(
      '1. [A](https://e.org/a)\n\n   ### Why it matters\n\n   Because.\n\n2. [B](https://e.org/b)\n',
    );
    const parsed = parseDigest(source, 'x.md');
    expect(parsed.items).toHaveLength(2);
    expect(parsed.notes).toEqual([
      expect.objectContaining({
        code: 'items.heading',
        line: source.split('\n').indexOf('   ### Why it matters') + 1,
      }),
    ]);
  });

  it('indented text after the list that holds items is pointed out', () => {
    const source = digest('1. [A](https://e.org/a)\n\n---\n\n    11. [K](https://e.org/k)\n');
    const parsed = parseDigest(source, 'x.md');
    expect(parsed.notes).toEqual([
      expect.objectContaining({
        code: 'items.code_block',
        line: source.split('\n').indexOf('    11. [K](https://e.org/k)') + 1,
      }),
    ]);
  });

  it('a numbered list inside a fenced code block is left exactly as written', () => {
    const source = digest('1. [A](https://e.org/a)\n\n```\n10.  not an item\n    still code\n```\n');
    const parsed = parseDigest(source, 'x.md');
    expect(parsed.items).toHaveLength(1);
    expect(parsed.commentary.html).toContain('10.  not an item\n    still code');
  });
});

describe('issue preview of a long digest', () => {
  const work = mkdtempSync(join(tmpdir(), 'digestmail-lists-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('prints 60 items for the real digest grown to 60 items in its own style, and renders all 60', async () => {
    const file = join(work, '2025-11-10-ai-news-60.md');
    writeFileSync(file, realDigestGrown(60));
    const out = join(work, 'out');
    const result = await runCliInProcess(['issue', 'preview', file, '--out', out], {
      DATA_DIR: join(work, 'data'),
      SECRET_KEY: 'lists-tests-secret-key-0123456789abcdef',
      PUBLIC_URL: 'https://news.example.org',
      MAIL_FROM: 'AI 日报 <news@example.org>',
      ORG_NAME: 'Morning Read',
      POSTAL_ADDRESS: '1 Example Street, Shanghai',
    });
    // Sixty long summaries are near Gmail's clip, which the preview rightly points out; nothing else.
    expect(result.stderr.split('\n').filter((line) => line !== '' && !/Gmail/.test(line))).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^60 items, zh-CN, HTML /m);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).not.toContain('**');
    expect(html).not.toContain('<pre');
    const text = readFileSync(join(out, 'index.txt'), 'utf8');
    expect(text).toContain('今日 60 条要闻');
  });
});
