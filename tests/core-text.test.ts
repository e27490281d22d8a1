import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../src/core/html.text.ts';
import { cleanName, MAX_NAME_CHARS } from '../src/core/person-name.text.ts';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { html } from '../src/http/html.ts';

describe('escapeHtml, the one HTML escaper', () => {
  it('escapes what can end a text node or a quoted attribute, and the backtick', () => {
    expect(escapeHtml(`<a href="x" title='y'>&\`</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&#96;&lt;/a&gt;',
    );
  });

  it('leaves other text, CJK and emoji alone, and escapes an existing entity again', () => {
    expect(escapeHtml('AI 日报 🙂 – plain')).toBe('AI 日报 🙂 – plain');
    expect(escapeHtml('&amp;')).toBe('&amp;amp;');
  });

  it('is what the page tag uses for every value', () => {
    const name = `<script>alert('x')</script>`;
    expect(html`<p>${name}</p>`.value).toBe(`<p>${escapeHtml(name)}</p>`);
  });

  it('is what the digest renderer uses for code blocks', () => {
    const digest = parseDigest(
      [
        '---',
        'title: t',
        'date: 2026-12-01',
        '---',
        '',
        'Intro.',
        '',
        '```',
        `if (a < b && c > "d") { return 'e'; }`,
        '```',
        '',
      ].join('\n'),
      'code.md',
    );
    expect(JSON.stringify(digest)).toContain(escapeHtml(`if (a < b && c > "d") { return 'e'; }`));
  });
});

describe('cleanName, the one rule for a reader name', () => {
  it.each([
    [undefined, null],
    [null, null],
    ['', null],
    ['  \t\r\n ', null],
    ['  Ana María ', 'Ana María'],
    ['Ana\r\nBcc: x@example.org', 'Ana Bcc: x@example.org'],
    ['a\u0000\u0007\u007fb', 'a b'],
    ['张三', '张三'],
  ])('%j becomes %j', (input, expected) => {
    expect(cleanName(input)).toBe(expected);
  });

  it(`keeps at most ${MAX_NAME_CHARS} characters and never cuts a surrogate pair in half`, () => {
    expect(cleanName('x'.repeat(500))).toBe('x'.repeat(MAX_NAME_CHARS));
    const emoji = cleanName('🙂'.repeat(300))!;
    expect(Array.from(emoji)).toHaveLength(MAX_NAME_CHARS);
    expect(emoji).toBe('🙂'.repeat(MAX_NAME_CHARS));
  });
});
