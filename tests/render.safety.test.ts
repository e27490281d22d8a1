import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import type { Digest } from '../src/digest/digest.types.ts';
import { compileIssue, fillSlots } from '../src/render/issue.compiler.ts';
import { renderTestConfig } from './fixtures/digests/config.ts';

/**
 * The injection corpus (tests/fixtures/digests/injection.md) holds script tags, event handlers,
 * javascript:/data:/vbscript: links and images, <style>, <iframe>, HTML comments and quotes that try
 * to break out of attributes, in every place a digest can hold text. The assertions read the output
 * as a browser would: every tag and every attribute.
 */

const config = renderTestConfig();
const SLOTS = {
  greeting: 'Hi,',
  webUrl: 'https://news.example.org/archive/1',
  preferencesUrl: 'https://news.example.org/preferences/P',
  unsubscribeUrl: 'https://news.example.org/unsubscribe/U',
};

interface Tag {
  name: string;
  attrs: [string, string][];
  at: number;
}

/** Every start tag in the document, with its attributes decoded just enough to judge them. */
function tags(html: string): Tag[] {
  const out: Tag[] = [];
  const tagPattern = /<([a-zA-Z][\w:-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*\/?>/g;
  const attrPattern = /([^\s=>/]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?/g;
  for (const m of html.matchAll(tagPattern)) {
    const attrs: [string, string][] = [];
    for (const a of (m[2] ?? '').matchAll(attrPattern)) {
      const raw = a[2] ?? '';
      const value = raw.startsWith('"') || raw.startsWith("'") ? raw.slice(1, -1) : raw;
      attrs.push([
        a[1]!.toLowerCase(),
        value
          .replace(/&amp;/g, '&')
          .replace(/&#(x?)([0-9a-f]+);/gi, (_x, hex, n) => String.fromCharCode(parseInt(n, hex ? 16 : 10))),
      ]);
    }
    out.push({ name: m[1]!.toLowerCase(), attrs, at: m.index });
  }
  return out;
}

describe('the injection corpus', () => {
  let digest: Digest;
  let html: string;
  let text: string;
  let clean: string;

  beforeAll(async () => {
    const src = readFileSync(new URL('./fixtures/digests/injection.md', import.meta.url), 'utf8');
    digest = parseDigest(src, 'injection.md');
    const t = await compileIssue(digest, { config, list: { slug: 'x', name: 'X' } });
    html = fillSlots(t.html, SLOTS);
    text = fillSlots(t.text, SLOTS);
    const reference = await compileIssue(
      parseDigest('---\ntitle: Clean\ndate: 2025-11-25\n---\n\nHello.\n', 'clean.md'),
      {
        config,
        list: { slug: 'x', name: 'X' },
      },
    );
    clean = fillSlots(reference.html, SLOTS);
  });

  it('no script, iframe, object, embed, svg, form, base or frame element reaches the output', () => {
    const forbidden = new Set([
      'script',
      'iframe',
      'object',
      'embed',
      'svg',
      'form',
      'input',
      'base',
      'frame',
      'frameset',
      'applet',
    ]);
    expect(tags(html).filter((t) => forbidden.has(t.name))).toEqual([]);
  });

  it('no element carries an event handler attribute', () => {
    const handlers = tags(html).flatMap((t) =>
      t.attrs.filter(([name]) => name.startsWith('on')).map(([n, v]) => `${t.name} ${n}=${v}`),
    );
    expect(handlers).toEqual([]);
  });

  it('every link and image URL is http(s) or mailto', () => {
    for (const tag of tags(html)) {
      for (const [name, value] of tag.attrs) {
        if (
          name === 'href' ||
          name === 'src' ||
          name === 'action' ||
          name === 'formaction' ||
          name === 'background'
        ) {
          expect(value, `${tag.name} ${name}`).toMatch(/^(https?:\/\/|mailto:)/i);
        }
      }
    }
    expect(html).not.toMatch(/(href|src)\s*=\s*["']?\s*(javascript|vbscript|data):/i);
  });

  it('the only <style> blocks are the template’s own, in the head', () => {
    const count = (h: string) => tags(h).filter((t) => t.name === 'style').length;
    expect(count(html)).toBe(count(clean));
    const bodyAt = html.indexOf('<body');
    expect(tags(html).filter((t) => t.name === 'style' && t.at > bodyAt)).toEqual([]);
    expect(html).not.toContain('body{display:none}</style>');
  });

  it('raw HTML is shown as text, escaped, never passed through', () => {
    expect(html).toContain('&lt;script&gt;alert(');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&lt;iframe src=&quot;');
    expect(html).toContain('&lt;!-- a comment that must not become an HTML comment --&gt;');
    expect(html).not.toContain('<!-- a comment');
  });

  it('front matter text is escaped in title, subject, preheader and categories', () => {
    expect(html).toContain(
      '<title>&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt; &quot;quoted&quot; &amp; more</title>',
    );
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;</span>');
    expect(html).toContain('&quot;&gt;&lt;script&gt;alert(&#39;preheader&#39;)&lt;/script&gt;');
  });

  it('quotes in link titles and URLs cannot open a new attribute', () => {
    const anchors = tags(html).filter((t) => t.name === 'a');
    for (const a of anchors) {
      expect(a.attrs.map(([n]) => n).sort()).toEqual(expect.arrayContaining(['href']));
      expect(a.attrs.every(([n]) => ['href', 'style', 'class', 'rel'].includes(n))).toBe(true);
    }
    expect(html).toContain('href="https://example.org/a%22onmouseover=%22alert(1)"');
  });

  it('refused links keep their text, lose their URL, and each is reported with its line', () => {
    expect(html).toContain('js link');
    expect(
      digest.warnings.some((w) => w.startsWith('injection.md:21: link "javascript:alert(1)" dropped')),
    ).toBe(true);
    expect(digest.warnings.some((w) => w.startsWith('injection.md:27: image "data:image/svg+xml'))).toBe(
      true,
    );
    expect(digest.warnings.some((w) => w.includes('"//evil.example/x" dropped'))).toBe(true);
    // The item whose headline link was refused is still an item, without a URL.
    expect(digest.items[0]!.headline).toBe("<script>alert('headline')</script>");
    expect(digest.items[0]!.url).toBeUndefined();
    expect(digest.items[2]!.url).toBeUndefined();
    expect(digest.items[1]!.url).toBe('https://example.org/ok?a=1&b=%3Cx%3E%22y%22');
    expect(html).toContain('href="mailto:editor@example.org"');
  });

  it('the text part writes out no refused URL as a link', () => {
    expect(text).not.toMatch(/<\s*(javascript|vbscript|data):/i);
    expect(text).not.toContain('//evil.example/x');
    expect(text).not.toContain("javascript:alert('autolink')");
    expect(text).toContain('js link data link vb link');
  });
});
