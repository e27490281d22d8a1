import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { MessageBuilder } from '../src/render/message.builder.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { renderTestConfig } from './fixtures/digests/config.ts';
import { manyItemsDigest } from './fixtures/digests/generated.ts';
import { launchChromium } from './helpers/browser.ts';
import { ROOT } from './helpers/cli.ts';

/**
 * The rendered mail in a real browser (headless Chromium): at phone and desktop widths, in light and
 * dark colour schemes. Screenshots go to tests/.artifacts/screenshots (git-ignored) for people to look at.
 */

// The functions passed to page.evaluate run in the page; these are the few DOM shapes they use
// (the project compiles without the DOM library, and these names stay local to this file).
interface PageElement {
  tagName: string;
  attributes: ArrayLike<{ name: string }>;
  href?: string;
  src?: string;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
}
declare const document: {
  documentElement: { scrollWidth: number; clientWidth: number };
  body: PageElement & { scrollWidth: number };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
};
declare function getComputedStyle(element: PageElement): { backgroundColor: string; color: string };

const ARTIFACTS = join(ROOT, 'tests/.artifacts');
const SHOTS = join(ARTIFACTS, 'screenshots');
const config = renderTestConfig();
const builder = new MessageBuilder(config, new TokenSigner(config.SECRET_KEY));
const list = { id: 1, slug: 'ai-daily', name: 'AI 日报' };

let browser: Browser;

async function renderToFile(name: string, source: string): Promise<{ file: string; headlines: number }> {
  const digest = parseDigest(source, `${name}.md`);
  const template = await compileIssue(digest, { config, list });
  const { html } = builder.personalise({ id: 12, template, list }, { name: '韩梅梅', subscriberId: 5 });
  mkdirSync(join(ARTIFACTS, 'html'), { recursive: true });
  const file = join(ARTIFACTS, 'html', `${name}.html`);
  writeFileSync(file, html);
  return { file, headlines: digest.items.filter((i) => i.url).length };
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

const digests: [string, () => string][] = [
  ['zh-daily', () => readFileSync(join(ROOT, 'tests/fixtures/digests/zh-daily.md'), 'utf8')],
  ['sixty-items', () => manyItemsDigest(60)],
  // Wide content (long code lines, tables) must scroll inside its own box, not widen the message.
  ['code', () => readFileSync(join(ROOT, 'tests/fixtures/digests/code.md'), 'utf8')],
  ['tables', () => readFileSync(join(ROOT, 'tests/fixtures/digests/tables.md'), 'utf8')],
];

describe.each(digests)('%s in Chromium', (name, source) => {
  describe.each([375, 600])('%i px wide', (width) => {
    it.each(['light', 'dark'] as const)(
      '%s: no horizontal overflow, every headline link visible',
      async (scheme) => {
        const { file, headlines } = await renderToFile(name, source());
        const page = await browser.newPage({ viewport: { width, height: 900 }, colorScheme: scheme });
        try {
          await page.goto(`file://${file}`);
          const size = await page.evaluate(() => ({
            scroll: document.documentElement.scrollWidth,
            client: document.documentElement.clientWidth,
            bodyScroll: document.body.scrollWidth,
            background: getComputedStyle(document.body).backgroundColor,
            headlineColor: getComputedStyle(document.querySelector('a.dm-headline')!).color,
          }));
          expect(size.scroll).toBeLessThanOrEqual(size.client);
          expect(size.bodyScroll).toBeLessThanOrEqual(size.client);

          const links = page.locator('a.dm-headline');
          expect(await links.count()).toBe(headlines);
          for (let i = 0; i < headlines; i++) {
            const link = links.nth(i);
            expect(await link.isVisible()).toBe(true);
            const box = (await link.boundingBox())!;
            expect(box.width).toBeGreaterThan(0);
            expect(box.x).toBeGreaterThanOrEqual(0);
            expect(box.x + box.width).toBeLessThanOrEqual(width + 0.5);
          }

          // The colour scheme is honoured: a dark page with light headlines, or the reverse.
          const luminance = (rgb: string) => {
            const [r, g, b] = rgb.match(/\d+/g)!.map(Number);
            return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
          };
          if (scheme === 'dark') {
            expect(luminance(size.background)).toBeLessThan(60);
            expect(luminance(size.headlineColor)).toBeGreaterThan(180);
          } else {
            expect(luminance(size.background)).toBeGreaterThan(200);
            expect(luminance(size.headlineColor)).toBeLessThan(60);
          }
          await page.screenshot({ path: join(SHOTS, `${name}-${width}-${scheme}.png`), fullPage: true });
        } finally {
          await page.close();
        }
      },
    );
  });
});

describe('the injection corpus in Chromium', () => {
  it('runs no script, fires no dialog, and links only to http(s) and mailto', async () => {
    const { file } = await renderToFile(
      'injection',
      readFileSync(join(ROOT, 'tests/fixtures/digests/injection.md'), 'utf8'),
    );
    const page = await browser.newPage({ viewport: { width: 600, height: 900 } });
    const dialogs: string[] = [];
    page.on('dialog', async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    try {
      await page.goto(`file://${file}`);
      // Hover and click everything a reader might touch, to trigger any handler that slipped through.
      for (const el of await page.locator('body *').elementHandles()) {
        await el.hover({ force: true, timeout: 200 }).catch(() => {});
      }
      const found = await page.evaluate(() => {
        const all = Array.from(document.querySelectorAll('*'));
        return {
          scripts: document.querySelectorAll('script, iframe, object, embed, svg, form').length,
          handlers: all.flatMap((el) =>
            Array.from(el.attributes)
              .filter((a) => a.name.startsWith('on'))
              .map((a) => `${el.tagName} ${a.name}`),
          ),
          protocols: Array.from(document.querySelectorAll('a[href], img[src]')).map(
            (el) => new URL(el.href || el.src || '').protocol,
          ),
          bodyStyles: document.body.querySelectorAll('style').length,
        };
      });
      expect(found.scripts).toBe(0);
      expect(found.handlers).toEqual([]);
      expect(new Set(found.protocols)).toEqual(new Set(['https:', 'mailto:']));
      expect(found.bodyStyles).toBe(0);
      expect(dialogs).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

/** WCAG 2 relative luminance of an `rgb(…)`/`rgba(…)` colour. */
function relativeLuminance(rgb: string): number {
  const [r, g, b] = rgb
    .match(/[\d.]+/g)!
    .slice(0, 3)
    .map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [relativeLuminance(a), relativeLuminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

interface FooterLink {
  text: string;
  color: string;
  background: string;
  height: number;
}

describe('footer links in Chromium at 375 px', () => {
  it.each(['light', 'dark'] as const)(
    '%s: view in browser, preferences and unsubscribe have at least 4.5:1 contrast and 24 px tall tap targets',
    async (scheme) => {
      const { file } = await renderToFile(
        'footer',
        readFileSync(join(ROOT, 'tests/fixtures/digests/zh-daily.md'), 'utf8'),
      );
      const page = await browser.newPage({ viewport: { width: 375, height: 900 }, colorScheme: scheme });
      try {
        await page.goto(`file://${file}`);
        const links = await page.evaluate(() => {
          interface Node {
            parentElement: Node | null;
            textContent: string;
            getBoundingClientRect(): { height: number };
          }
          const style = getComputedStyle as unknown as (n: Node) => {
            color: string;
            backgroundColor: string;
          };
          const found = Array.from(
            document.querySelectorAll(
              'a[href*="/unsubscribe/"], a[href*="/preferences/"], a[href*="/archive/"]',
            ) as unknown as ArrayLike<Node>,
          );
          return found.map((a) => {
            // The colour the text is drawn on: the nearest ancestor with a background that is not transparent.
            let background = 'rgb(255, 255, 255)';
            for (let n: Node | null = a; n; n = n.parentElement) {
              const bg = style(n).backgroundColor;
              if (bg && bg !== 'transparent' && !/rgba\([^)]*,\s*0\)$/.test(bg)) {
                background = bg;
                break;
              }
            }
            return {
              text: a.textContent.trim(),
              color: style(a).color,
              background,
              height: a.getBoundingClientRect().height,
            };
          });
        });
        const footer: FooterLink[] = links;
        // The topbar's "view in browser", and the footer's three links.
        expect(footer.length).toBeGreaterThanOrEqual(4);
        for (const link of footer) {
          const ratio = contrastRatio(link.color, link.background);
          expect(ratio, `${link.text}: ${link.color} on ${link.background}`).toBeGreaterThanOrEqual(4.5);
          expect(link.height, `${link.text} tap target height`).toBeGreaterThanOrEqual(24);
        }
        await page.screenshot({ path: join(SHOTS, `footer-375-${scheme}.png`), fullPage: true });
      } finally {
        await page.close();
      }
    },
  );
});
