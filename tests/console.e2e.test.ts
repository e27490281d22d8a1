import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EditorsService } from '../src/editors/editors.service.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { launchChromium } from './helpers/browser.ts';
import { ROOT, runCliInProcess } from './helpers/cli.ts';
import { TEST_SECRET } from './helpers/http-app.ts';
import { freePort, type RunningServe, startServe } from './helpers/serve.ts';
import { header, startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const ARTIFACTS = join(ROOT, 'tests', '.artifacts');
const READERS = 25;

let db: TestDatabase;
let smtp: TestSmtpServer;
let serve: RunningServe;
let base: string;
let browser: Browser;
let env: Record<string, string>;

/** A Chinese daily in the shared digest's own style: `1.␣␣[headline](url)`, summaries indented four spaces. */
function sharedStyleDigest(items: number, extra = ''): string {
  const body = Array.from(
    { length: items },
    (_, i) =>
      `${i + 1}.  [第${i + 1}条：开源模型发布新版本](https://news.example.org/story/${i + 1})\n\n    摘要${i + 1}：这个版本在推理速度上提升了 **一倍**，并公开了训练数据。`,
  ).join('\n\n');
  return `---\ntitle: "2026.12.01 AI 每日简报"\ndate: 2026-12-01T08:30:00+08:00\ncategories: ["人工智能"]\n---\n\n今天的要闻如下。${extra}\n\n---\n\n${body}\n\n---\n\n编辑点评：好好读。\n`;
}

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  await new ListsService(db.db).create({ slug: 'ai-daily', name: 'AI 日报', language: 'zh-CN' });
  const list = await db.db.selectFrom('lists').select('id').executeTakeFirstOrThrow();
  const rows = Array.from({ length: READERS }, (_, i) => ({ email: `reader${i}@example.org` }));
  const subscribers = await db.db.insertInto('subscribers').values(rows).returning('id').execute();
  await db.db
    .insertInto('subscriptions')
    .values(subscribers.map((s) => ({ subscriber_id: s.id, list_id: list.id, status: 'confirmed' as const })))
    .execute();
  await new EditorsService(db.db).add({ email: 'chief@example.org', role: 'admin' }, { cli: 'test' });
  smtp = await startSmtpServer({ keepRaw: false });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    NODE_ENV: 'test',
    DATABASE_URL: db.url!,
    MAIL_URL: smtp.url,
    SECRET_KEY: TEST_SECRET,
    PUBLIC_URL: base,
    PORT: String(port),
    HOST: '127.0.0.1',
    SEND_RATE: '500',
    LOG_LEVEL: 'warn',
    TZ: 'Asia/Shanghai',
  };
  serve = await startServe(env);
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  if (serve && serve.child.exitCode === null) serve.child.kill('SIGKILL');
  await smtp?.close();
  await db?.close();
});

async function signedInPage(email: string, width = 1280): Promise<Page> {
  const link = await runCliInProcess(['editors', 'link', email], env);
  expect(link.code).toBe(0);
  const page = await browser.newPage({ viewport: { width, height: 900 }, locale: 'zh-CN' });
  await page.goto(link.stdout.trim());
  await page.getByRole('button', { name: '登录' }).click();
  await page.waitForURL(`${base}/console/`);
  return page;
}

async function shoot(page: Page, name: string): Promise<void> {
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: join(ARTIFACTS, `console-${name}-${width}.png`), fullPage: true });
    // Nothing sideways: the page fits the window at both widths.
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow, `${name} at ${width} px overflows by ${overflow} px`).toBeLessThanOrEqual(0);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

describe('the editor console in a real browser, against digestmail serve and a real SMTP server', () => {
  it('takes a pasted digest to a sent issue: preview at both widths, test mail, typed count, live counts', async () => {
    const page = await signedInPage('chief@example.org');
    await shoot(page, 'dashboard');

    await page.locator('header nav').getByRole('link', { name: '新建一期' }).click();
    await page.getByLabel('列表').selectOption('ai-daily');
    await page.getByLabel('简报（带 front matter 的 Markdown）').fill(sharedStyleDigest(12));
    // the live preview follows typing: both widths show all twelve items
    const desktop = page.frameLocator('.frame.desktop iframe[data-scheme="light"]');
    const phone = page.frameLocator('.frame.phone iframe[data-scheme="light"]');
    await desktop.getByText('第12条：开源模型发布新版本').waitFor();
    await phone.getByText('第12条：开源模型发布新版本').waitFor();
    await expect.poll(() => page.locator('#pv-items').textContent()).toBe('12');
    await page
      .frameLocator('.frame.phone iframe[data-scheme="dark"]')
      .getByText('第1条：开源模型发布新版本')
      .waitFor();
    await shoot(page, 'preview');
    // The frames themselves, as the editor sees them once scrolled to (full-page captures leave
    // out-of-process frames blank).
    await page.locator('.frames').screenshot({ path: join(ARTIFACTS, 'console-preview-frames-1280.png') });

    await page.getByRole('button', { name: '保存为草稿' }).click();
    await page.waitForURL(/\/console\/issues\/\d+\?done=created/);
    const issueId = Number(/issues\/(\d+)/.exec(page.url())![1]);

    await page.getByLabel('收件人（逗号分隔）').fill('proof@example.org');
    await page.getByRole('button', { name: '发送测试邮件' }).last().click();
    await page.waitForURL(/done=test/);
    const [test] = await smtp.waitFor(1, 30_000);
    expect(test!.to).toEqual(['proof@example.org']);
    expect(header(test!.headers, 'Subject')).toMatch(/TEST/);

    const hint = await page.locator('#send-hint').textContent();
    expect(hint).toContain(String(READERS));
    await page.getByLabel('读者人数').fill(String(READERS));
    await page.getByRole('button', { name: '立即发送' }).click();
    await page.waitForURL(/done=send/);
    // the counts move by themselves (server-sent events) until the page shows the issue sent
    await page.locator('.badge.sent').waitFor({ timeout: 60_000 });
    await expect.poll(() => page.locator('[data-count="sent"]').textContent()).toBe(String(READERS));
    expect(smtp.messages().filter((m) => m.to[0]!.startsWith('reader'))).toHaveLength(READERS);
    const status = await db.db
      .selectFrom('issues')
      .select('status')
      .where('id', '=', issueId)
      .executeTakeFirstOrThrow();
    expect(status.status).toBe('sent');
    await shoot(page, 'issue');
    await page.close();
  });

  it('a second browser without a session sees only the sign-in page, and it answers known and unknown alike', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/console/`);
    await page.waitForURL(`${base}/console/login`);
    expect(await page.content()).not.toContain('ai-daily');
    const answer = async (email: string) => {
      await page.goto(`${base}/console/login`);
      await page.getByLabel('Email address').fill(email);
      await page.getByRole('button', { name: 'Mail me a sign-in link' }).click();
      await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
      return page.content();
    };
    expect(await answer('chief@example.org')).toBe(await answer('nobody@example.org'));
    await page.close();
  });

  it('the preview frame runs no script from a digest with <script> and javascript: links', async () => {
    const page = await signedInPage('chief@example.org');
    let dialogs = 0;
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    await page.goto(`${base}/console/issues/new`);
    const hostile = sharedStyleDigest(
      3,
      '\n\n<script>window.parent.document.title = "pwned"; alert(1)</script>\n\n[click me](javascript:alert(2)) <img src=x onerror="alert(3)">',
    );
    await page.getByLabel('简报（带 front matter 的 Markdown）').fill(hostile);
    const frame = page.frameLocator('.frame.desktop iframe[data-scheme="light"]');
    await frame.getByText('第3条：开源模型发布新版本').waitFor();
    expect(await page.locator('iframe[data-scheme]').first().getAttribute('sandbox')).toBe('');
    await frame
      .getByText('click me')
      .click({ timeout: 5_000 })
      .catch(() => {});
    expect(dialogs).toBe(0);
    expect(await page.title()).not.toBe('pwned');
    const scripts = await frame.locator('script').count();
    expect(scripts).toBe(0);
    await page.close();
  });

  it('removing an editor ends their session at once', async () => {
    await new EditorsService(db.db).add({ email: 'guest@example.org' }, { cli: 'test' });
    const page = await signedInPage('guest@example.org');
    expect((await runCliInProcess(['editors', 'remove', 'guest@example.org'], env)).code).toBe(0);
    await page.reload();
    await page.waitForURL(/\/console\/login/);
    await page.close();
  });
});
