import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser.ts';
import { ROOT } from './helpers/cli.ts';
import { TEST_SECRET } from './helpers/http-app.ts';
import { freePort, type RunningServe, startServe } from './helpers/serve.ts';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const ARTIFACTS = join(ROOT, 'tests', '.artifacts');

let db: TestDatabase;
let smtp: TestSmtpServer;
let serve: RunningServe;
let base: string;
let browser: Browser;
let listId: number;

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  listId = (
    await db.db
      .insertInto('lists')
      .values({
        slug: 'ai-daily',
        name: 'AI Daily',
        topics: ['models', 'chips'],
        description: 'The day in AI, in five minutes.',
      })
      .returning('id')
      .executeTakeFirstOrThrow()
  ).id;
  smtp = await startSmtpServer({ keepRaw: true });
  // The links in mail must name the server's own address, so its port is chosen before it starts.
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  serve = await startServe({
    NODE_ENV: 'test',
    DATABASE_URL: db.url!,
    MAIL_URL: smtp.url,
    SECRET_KEY: TEST_SECRET,
    PUBLIC_URL: base,
    PORT: String(port),
    HOST: '127.0.0.1',
    ORG_NAME: 'AI Daily Press',
    LOG_LEVEL: 'warn',
  });
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  if (serve && serve.child.exitCode === null) serve.child.kill('SIGKILL');
  await smtp?.close();
  await db?.close();
});

const subscription = () =>
  db.db
    .selectFrom('subscriptions as sn')
    .innerJoin('subscribers as s', 's.id', 'sn.subscriber_id')
    .select(['sn.status', 'sn.topics', 's.name'])
    .where('s.email', '=', 'reader@example.com')
    .where('sn.list_id', '=', listId)
    .executeTakeFirst();

async function mailText(index: number): Promise<string> {
  const messages = await smtp.waitFor(index + 1, 90_000);
  return (await simpleParser(messages[index]!.raw!)).text ?? '';
}

function link(text: string, kind: 'confirm' | 'unsubscribe' | 'preferences'): string {
  const found = new RegExp(
    `${base.replace(/[.]/g, '\\.')}/${kind}/[A-Za-z0-9_.-]+(\\?lang=[A-Za-z-]+)?`,
  ).exec(text);
  if (!found) throw new Error(`no ${kind} link in:\n${text}`);
  return found[0];
}

describe('a reader in a real browser, with a real SMTP server and a running digestmail serve', () => {
  it('the form looks right on a phone and on a desktop', async () => {
    for (const width of [375, 1280]) {
      const page = await browser.newPage({ viewport: { width, height: width === 375 ? 720 : 800 } });
      await page.goto(`${base}/`);
      await page.screenshot({ path: join(ARTIFACTS, `signup-${width}.png`), fullPage: true });
      // nothing overflows sideways on a phone
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      expect(overflow).toBeLessThanOrEqual(0);
      expect(await page.getByLabel('Email address').isVisible()).toBe(true);
      await page.close();
    }
    const zh = await browser.newPage({ viewport: { width: 375, height: 720 }, locale: 'zh-CN' });
    await zh.goto(`${base}/`);
    await zh.screenshot({ path: join(ARTIFACTS, 'signup-375-zh.png'), fullPage: true });
    expect(await zh.getByLabel('邮箱地址').isVisible()).toBe(true);
    await zh.close();
  });

  it('signs up, confirms by the mailed link, changes preferences, unsubscribes from the page and by RFC 8058', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${base}/subscribe`);
    await page.getByLabel('Email address').fill('Reader@Example.com');
    await page.getByLabel('Name').fill('Rea <b>Der</b>');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    expect((await subscription())?.status).toBe('pending');

    // the confirmation mail arrives at the SMTP server; its link shows a button, and only the button confirms
    const confirmMail = await mailText(0);
    // the confirmation carries no text the form's sender chose: not even the name (issue 11.2)
    expect(confirmMail).not.toContain('Rea');
    expect(confirmMail).toContain('Hi there,');
    expect((await subscription())?.name).toBeNull();
    const confirmUrl = link(confirmMail, 'confirm');
    await page.goto(confirmUrl);
    await page.getByRole('heading', { name: 'Confirm your subscription' }).waitFor();
    expect((await subscription())?.status).toBe('pending');
    await page.screenshot({ path: join(ARTIFACTS, 'confirm-1280.png') });
    await page.getByRole('button', { name: 'Confirm subscription' }).click();
    await page.getByRole('heading', { name: 'You are subscribed' }).waitFor();
    expect(await subscription()).toMatchObject({ status: 'confirmed', name: 'Rea <b>Der</b>' });

    // the welcome mail carries the preferences and unsubscribe links
    const welcome = await mailText(1);
    const preferencesUrl = link(welcome, 'preferences');
    const unsubscribeUrl = link(welcome, 'unsubscribe');

    await page.goto(preferencesUrl);
    await page.getByRole('heading', { name: 'Your preferences' }).waitFor();
    expect(await page.getByLabel('Name').inputValue()).toBe('Rea <b>Der</b>');
    await page.getByLabel('Name').fill('Rea');
    await page.getByLabel('chips').check();
    await page.screenshot({ path: join(ARTIFACTS, 'preferences-1280.png'), fullPage: true });
    await page.getByRole('button', { name: 'Save preferences' }).click();
    await page.getByText('Your preferences are saved.').waitFor();
    expect(await subscription()).toMatchObject({ status: 'confirmed', topics: ['chips'], name: 'Rea' });

    await page.goto(unsubscribeUrl);
    await page.getByRole('button', { name: 'Unsubscribe from AI Daily' }).click();
    await page.getByRole('heading', { name: 'You are unsubscribed' }).waitFor();
    expect((await subscription())?.status).toBe('unsubscribed');

    // coming back to a double-opt-in list waits for a mailed link, as a signup does (issue 11.4)
    await page.getByRole('button', { name: 'Subscribe again' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    await page.getByText('check your inbox to confirm').waitFor();
    expect((await subscription())?.status).toBe('pending');
    // mail 2 and 3: the goodbye and the come-back confirmation, in either order
    const [third, fourth] = [await mailText(2), await mailText(3)];
    const comeBack = third.includes('/confirm/') ? third : fourth;
    await page.goto(link(comeBack, 'confirm'));
    await page.getByRole('button', { name: 'Confirm subscription' }).click();
    await page.getByRole('heading', { name: 'You are subscribed' }).waitFor();
    // the reader's name from the preferences page stays: coming back renames nobody
    expect(await subscription()).toMatchObject({ status: 'confirmed', name: 'Rea' });
    await page.close();

    // the mail client's own button: RFC 8058 POST, no cookie, no CSRF token
    const res = await fetch(unsubscribeUrl, {
      method: 'POST',
      body: new URLSearchParams({ 'List-Unsubscribe': 'One-Click' }),
      redirect: 'manual',
    });
    expect(res.status).toBe(200);
    expect((await subscription())?.status).toBe('unsubscribed');
  });

  it('stops gracefully on SIGTERM', async () => {
    expect(await serve.stop()).toBe(0);
    expect(serve.output()).toContain('stopped');
  });
});
