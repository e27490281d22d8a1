import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BODY_LIMIT } from '../src/http/app.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { signConfirm, signUnsubscribe } from '../src/core/reader-tokens.ts';
import { openForm, postForm, startTestApp, type TestApp } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase, truncateAll } from './helpers/test-db.ts';

let db: TestDatabase;
let t: TestApp;
let list: number;
let other: number;
let ana: number;
let ben: number;

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  t = await startTestApp(db);
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

beforeEach(async () => {
  await truncateAll(db);
  const lists = new ListsService(db.db);
  list = (await lists.create({ slug: 'ai-daily', name: 'AI Daily' })).id;
  other = (await lists.create({ slug: 'weekly', name: 'Weekly' })).id;
  const subs = await db.db
    .insertInto('subscribers')
    .values([{ email: 'ana@example.com' }, { email: 'ben@example.com' }])
    .returning('id')
    .execute();
  ana = subs[0]!.id;
  ben = subs[1]!.id;
  await db.db
    .insertInto('subscriptions')
    .values(
      [ana, ben].flatMap((s) => [
        { subscriber_id: s, list_id: list, status: 'confirmed' as const, confirmed_at: new Date() },
        { subscriber_id: s, list_id: other, status: 'confirmed' as const, confirmed_at: new Date() },
      ]),
    )
    .execute();
});

const statuses = async (subscriberId: number) =>
  Object.fromEntries(
    (
      await db.db
        .selectFrom('subscriptions')
        .select(['list_id', 'status'])
        .where('subscriber_id', '=', subscriberId)
        .execute()
    ).map((r) => [r.list_id === list ? 'list' : 'other', r.status]),
  );

function multipart(fields: Record<string, string>): { payload: string; headers: Record<string, string> } {
  const boundary = '----digestmailtest7MA4YWxkTrZu0gW';
  let payload = '';
  for (const [k, v] of Object.entries(fields)) {
    payload += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
  }
  payload += `--${boundary}--\r\n`;
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

describe('RFC 8058 one-click unsubscribe', () => {
  it('an urlencoded List-Unsubscribe=One-Click POST unsubscribes within the request: 200, no redirect, no cookie', async () => {
    const token = signUnsubscribe(t.signer, ana, list);
    const res = await postForm(t.app, `/unsubscribe/${token}`, { 'List-Unsubscribe': 'One-Click' });
    expect(res.statusCode).toBe(200);
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(await statuses(ana)).toEqual({ list: 'unsubscribed', other: 'confirmed' });
    expect(await statuses(ben)).toEqual({ list: 'confirmed', other: 'confirmed' });
    // a mail client that retries gets the same answer
    const again = await postForm(t.app, `/unsubscribe/${token}`, { 'List-Unsubscribe': 'One-Click' });
    expect(again.statusCode).toBe(200);
    // no goodbye mail for a mail client's silent button
    expect(await db.db.selectFrom('outbox').selectAll().execute()).toEqual([]);
  });

  it('one-click POSTs arriving together each leave their own list (written in batches), a repeated one is answered the same, and the counts stay exact', async () => {
    const readers = await db.db
      .insertInto('subscribers')
      .values(Array.from({ length: 40 }, (_, i) => ({ email: `wave${i}@example.com` })))
      .returning('id')
      .execute();
    await db.db
      .insertInto('subscriptions')
      .values(
        readers.map((r) => ({
          subscriber_id: r.id,
          list_id: list,
          status: 'confirmed' as const,
          confirmed_at: new Date(),
        })),
      )
      .execute();
    const tokens = readers.map((r) => signUnsubscribe(t.signer, r.id, list));
    const answers = await Promise.all(
      [...tokens, ...tokens.slice(0, 10)].map((token) =>
        postForm(t.app, `/unsubscribe/${token}`, { 'List-Unsubscribe': 'One-Click' }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(answers.map(() => 200));
    const left = await db.db
      .selectFrom('subscriptions')
      .select('subscriber_id')
      .where('list_id', '=', list)
      .where('status', '=', 'unsubscribed')
      .execute();
    expect(left.map((r) => r.subscriber_id).sort((x, y) => x - y)).toEqual(
      readers.map((r) => r.id).sort((x, y) => x - y),
    );
    expect(await statuses(ana)).toEqual({ list: 'confirmed', other: 'confirmed' });
    const counts = (await new ListsService(db.db).all()).find((l) => l.id === list)!.counts;
    expect(counts).toEqual({ pending: 0, confirmed: 2, unsubscribed: 40 });
  });

  it('a multipart/form-data one-click POST works the same', async () => {
    const token = signUnsubscribe(t.signer, ana, list);
    const res = await t.app.inject({
      method: 'POST',
      url: `/unsubscribe/${token}`,
      ...multipart({ 'List-Unsubscribe': 'One-Click' }),
    });
    expect(res.statusCode).toBe(200);
    expect(await statuses(ana)).toEqual({ list: 'unsubscribed', other: 'confirmed' });
  });

  it('a wrong body is refused with 400 and changes nothing', async () => {
    const token = signUnsubscribe(t.signer, ana, list);
    const bodies = [
      postForm(t.app, `/unsubscribe/${token}`, { 'List-Unsubscribe': 'Yes' }),
      postForm(t.app, `/unsubscribe/${token}`, {}),
      t.app.inject({
        method: 'POST',
        url: `/unsubscribe/${token}`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ 'List-Unsubscribe': 'One-Click' }),
      }),
      t.app.inject({ method: 'POST', url: `/unsubscribe/${token}` }),
      t.app.inject({
        method: 'POST',
        url: `/unsubscribe/${token}`,
        ...multipart({ 'List-Unsubscribe': 'one-click-please' }),
      }),
    ];
    for (const res of await Promise.all(bodies)) {
      expect(res.statusCode).toBe(400);
      expect(res.body).toContain('List-Unsubscribe=One-Click');
    }
    expect(await statuses(ana)).toEqual({ list: 'confirmed', other: 'confirmed' });
  });

  it('tampered, truncated, wrong-purpose and other-subscriber tokens unsubscribe nobody', async () => {
    const good = signUnsubscribe(t.signer, ana, list);
    const [payload, signature] = good.split('.') as [string, string];
    const toBen = `${Buffer.from(JSON.stringify({ s: ben, l: list, p: 'unsubscribe' })).toString('base64url')}.${signature}`;
    const tokens = {
      tampered: `${payload}.${signature.slice(0, -3)}abc`,
      truncated: good.slice(0, -4),
      wrongPurpose: t.signer.sign('preferences', { s: ana }),
      confirmPurpose: t.signer.sign('confirm', { s: ana, l: [list] }),
      otherSubscriber: toBen,
      noClaims: t.signer.sign('unsubscribe', {}),
    };
    for (const [name, token] of Object.entries(tokens)) {
      const res = await postForm(t.app, `/unsubscribe/${token}`, { 'List-Unsubscribe': 'One-Click' });
      expect(res.statusCode, name).toBe(400);
      expect(res.body, name).toContain('This link is not valid');
      const page = await t.app.inject({ url: `/unsubscribe/${token}` });
      expect(page.statusCode, name).toBe(400);
    }
    expect(await statuses(ana)).toEqual({ list: 'confirmed', other: 'confirmed' });
    expect(await statuses(ben)).toEqual({ list: 'confirmed', other: 'confirmed' });
  });

  it('a token from an editor’s test mail changes nothing', async () => {
    const token = t.signer.sign('unsubscribe', { s: ana, l: list, t: 1 });
    const res = await postForm(t.app, `/unsubscribe/${token}`, { 'List-Unsubscribe': 'One-Click' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Test messages are sent only to the editors');
    const page = await t.app.inject({ url: `/unsubscribe/${token}` });
    expect(page.body).toContain('This link came from a test message');
    expect(await statuses(ana)).toEqual({ list: 'confirmed', other: 'confirmed' });
    // a test send to an editor who is no subscriber carries subscriber 0
    const editor = t.signer.sign('unsubscribe', { s: 0, l: list, t: 1 });
    expect(
      (await postForm(t.app, `/unsubscribe/${editor}`, { 'List-Unsubscribe': 'One-Click' })).statusCode,
    ).toBe(200);
    expect((await t.app.inject({ url: `/unsubscribe/${editor}` })).body).toContain(
      'This link came from a test message',
    );
    const preferences = t.signer.sign('preferences', { s: 0, l: list });
    const prefPage = await t.app.inject({ url: `/preferences/${preferences}` });
    expect(prefPage.statusCode).toBe(200);
    expect(prefPage.body).toContain('This link came from a test message');
    // subscriber 0 without the test mark is no valid link
    expect(
      (await t.app.inject({ url: `/unsubscribe/${t.signer.sign('unsubscribe', { s: 0, l: list })}` }))
        .statusCode,
    ).toBe(400);
  });

  it('refuses a 1 MB body with 413 before touching anything', async () => {
    const token = signUnsubscribe(t.signer, ana, list);
    const res = await t.app.inject({
      method: 'POST',
      url: `/unsubscribe/${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `List-Unsubscribe=One-Click&pad=${'x'.repeat(1024 * 1024)}`,
    });
    expect(res.statusCode).toBe(413);
    expect(res.body).toContain('too large');
    const big = await t.app.inject({
      method: 'POST',
      url: `/unsubscribe/${token}`,
      ...multipart({ 'List-Unsubscribe': 'One-Click', pad: 'x'.repeat(BODY_LIMIT * 4) }),
    });
    expect(big.statusCode).toBe(413);
    expect(await statuses(ana)).toEqual({ list: 'confirmed', other: 'confirmed' });
  });
});

describe('unsubscribe page', () => {
  it('GET shows an Unsubscribe button, an everything choice and a preferences link, and changes nothing', async () => {
    const token = signUnsubscribe(t.signer, ana, list);
    const res = await t.app.inject({ url: `/unsubscribe/${token}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('value="unsubscribe"');
    expect(res.body).toContain('value="unsubscribe-all"');
    expect(res.body).toMatch(/href="\/preferences\/[^"]+"/);
    expect(res.body).toContain('ana@example.com');
    expect(await statuses(ana)).toEqual({ list: 'confirmed', other: 'confirmed' });
  });

  it('the button leaves one list and queues a goodbye; "changed my mind" on a double-opt-in list waits for the mailed link', async () => {
    const token = signUnsubscribe(t.signer, ana, list);
    const form = await openForm(t.app, `/unsubscribe/${token}`);
    const left = await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: form.csrf, action: 'unsubscribe' },
      { cookie: form.cookie },
    );
    expect(left.statusCode).toBe(200);
    expect(left.body).toContain('You are unsubscribed');
    expect(left.body).toContain('value="resubscribe"');
    expect(await statuses(ana)).toEqual({ list: 'unsubscribed', other: 'confirmed' });
    const mail = await db.db.selectFrom('outbox').select(['kind', 'to_email', 'payload']).execute();
    expect(mail).toEqual([
      { kind: 'goodbye', to_email: 'ana@example.com', payload: { lists: [list], lang: 'en' } },
    ]);

    const csrf = /name="_csrf" value="([^"]+)"/.exec(left.body)![1]!;
    const back = await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: csrf, action: 'resubscribe', lists: String(list) },
      { cookie: form.cookie },
    );
    expect(back.statusCode).toBe(200);
    // the link is in every forwarded issue: holding it proves nothing, so the list's opt-in rules apply
    expect(back.body).toContain('Check your inbox');
    expect(back.body).toContain('check your inbox to confirm');
    expect(back.body).not.toContain('Welcome back');
    expect(await statuses(ana)).toEqual({ list: 'pending', other: 'confirmed' });
    const confirm = await db.db
      .selectFrom('outbox')
      .select(['to_email', 'payload'])
      .where('kind', '=', 'confirm')
      .execute();
    expect(confirm).toEqual([
      { to_email: 'ana@example.com', payload: { lists: [list], lang: 'en', via: 'come_back' } },
    ]);

    // the mailed link brings her back, as a signup's does
    const confirmToken = signConfirm(t.signer, ana, [list]);
    const confirmForm = await openForm(t.app, `/confirm/${confirmToken}`);
    await postForm(
      t.app,
      `/confirm/${confirmToken}`,
      { _csrf: confirmForm.csrf },
      { cookie: confirmForm.cookie },
    );
    expect(await statuses(ana)).toEqual({ list: 'confirmed', other: 'confirmed' });
  });

  it('"changed my mind" on a single-opt-in list is immediate, with no mail', async () => {
    await db.db.updateTable('lists').set({ opt_in: 'single' }).where('id', '=', list).execute();
    const token = signUnsubscribe(t.signer, ana, list);
    const form = await openForm(t.app, `/unsubscribe/${token}`);
    const left = await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: form.csrf, action: 'unsubscribe' },
      { cookie: form.cookie },
    );
    const csrf = /name="_csrf" value="([^"]+)"/.exec(left.body)![1]!;
    const back = await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: csrf, action: 'resubscribe', lists: String(list) },
      { cookie: form.cookie },
    );
    expect(back.statusCode).toBe(200);
    expect(back.body).toContain('Welcome back');
    expect(back.body).toContain('You are subscribed to AI Daily again.');
    expect(await statuses(ana)).toEqual({ list: 'confirmed', other: 'confirmed' });
    const kinds = await db.db.selectFrom('outbox').select('kind').execute();
    expect(kinds.map((k) => k.kind)).toEqual(['goodbye']);
  });

  it('alternating unsubscribe and "subscribe again" ten times mails one goodbye a day, not ten', async () => {
    const token = signUnsubscribe(t.signer, ben, list);
    for (let round = 0; round < 10; round++) {
      const form = await openForm(t.app, `/unsubscribe/${token}`);
      const left = await postForm(
        t.app,
        `/unsubscribe/${token}`,
        { _csrf: form.csrf, action: 'unsubscribe' },
        { cookie: form.cookie },
      );
      expect(left.statusCode).toBe(200);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(left.body)![1]!;
      const back = await postForm(
        t.app,
        `/unsubscribe/${token}`,
        { _csrf: csrf, action: 'resubscribe', lists: String(list) },
        { cookie: form.cookie },
      );
      expect(back.statusCode).toBe(200);
    }
    const goodbyes = await db.db
      .selectFrom('outbox')
      .select('to_email')
      .where('kind', '=', 'goodbye')
      .where('to_email', '=', 'ben@example.com')
      .execute();
    expect(goodbyes).toHaveLength(1);
    // and "Subscribe again" on a double-opt-in list mails one confirmation per ten minutes, not ten
    const confirms = await db.db
      .selectFrom('outbox')
      .select('to_email')
      .where('kind', '=', 'confirm')
      .where('to_email', '=', 'ben@example.com')
      .execute();
    expect(confirms).toHaveLength(1);
    expect(await statuses(ben)).toEqual({ list: 'pending', other: 'confirmed' });
  });

  it('"unsubscribe from everything" leaves every list, and changing one’s mind restores them', async () => {
    const token = signUnsubscribe(t.signer, ana, list);
    const form = await openForm(t.app, `/unsubscribe/${token}`);
    const left = await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: form.csrf, action: 'unsubscribe-all' },
      { cookie: form.cookie },
    );
    expect(left.statusCode).toBe(200);
    expect(await statuses(ana)).toEqual({ list: 'unsubscribed', other: 'unsubscribed' });
    expect(await statuses(ben)).toEqual({ list: 'confirmed', other: 'confirmed' });
    const lists = /name="lists" value="([^"]+)"/.exec(left.body)![1]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(left.body)![1]!;
    await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: csrf, action: 'resubscribe', lists },
      { cookie: form.cookie },
    );
    // both lists are double opt-in: one confirmation mail names both, and they wait for it
    expect(await statuses(ana)).toEqual({ list: 'pending', other: 'pending' });
    const confirm = await db.db
      .selectFrom('outbox')
      .select('payload')
      .where('kind', '=', 'confirm')
      .execute();
    expect(confirm).toEqual([{ payload: { lists: [list, other].sort(), lang: 'en', via: 'come_back' } }]);
  });

  it('"changed my mind" cannot join a list the reader was never on, nor bring back a suppressed address', async () => {
    const third = (await new ListsService(db.db).create({ slug: 'third', name: 'Third' })).id;
    await db.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed' })
      .where('subscriber_id', '=', ana)
      .execute();
    const token = signUnsubscribe(t.signer, ana, list);
    const form = await openForm(t.app, `/unsubscribe/${token}`);
    await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: form.csrf, action: 'resubscribe', lists: String(third) },
      { cookie: form.cookie },
    );
    const rows = await db.db
      .selectFrom('subscriptions')
      .select('list_id')
      .where('subscriber_id', '=', ana)
      .execute();
    expect(rows.map((r) => r.list_id).sort()).toEqual([list, other].sort());

    await db.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed' })
      .where('subscriber_id', '=', ana)
      .execute();
    await db.db
      .insertInto('suppressions')
      .values({ email: 'ana@example.com', reason: 'complaint' })
      .execute();
    const refused = await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: form.csrf, action: 'resubscribe' },
      { cookie: form.cookie },
    );
    expect(refused.statusCode).toBe(409);
    expect(await statuses(ana)).toEqual({ list: 'unsubscribed', other: 'unsubscribed' });
  });

  it('"changed my mind" never confirms a list the reader had not confirmed before leaving', async () => {
    const third = (await new ListsService(db.db).create({ slug: 'third', name: 'Third' })).id;
    // Someone signed Ana up for a third list; she never confirmed it, then left everything.
    await db.db
      .insertInto('subscriptions')
      .values({ subscriber_id: ana, list_id: third, status: 'pending' })
      .execute();
    await db.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed' })
      .where('subscriber_id', '=', ana)
      .execute();
    const token = signUnsubscribe(t.signer, ana, list);
    const form = await openForm(t.app, `/unsubscribe/${token}`);
    await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: form.csrf, action: 'resubscribe', lists: [String(list), String(third)] },
      { cookie: form.cookie },
    );
    const rows = await db.db
      .selectFrom('subscriptions')
      .select(['list_id', 'status'])
      .where('subscriber_id', '=', ana)
      .where('list_id', 'in', [list, third])
      .orderBy('list_id')
      .execute();
    expect(rows).toEqual([
      { list_id: list, status: 'pending' },
      { list_id: third, status: 'unsubscribed' },
    ]);
  });

  it('the page form needs its CSRF token; an unknown action is a 400', async () => {
    const token = signUnsubscribe(t.signer, ana, list);
    const noCsrf = await postForm(t.app, `/unsubscribe/${token}`, { action: 'unsubscribe-all' });
    expect(noCsrf.statusCode).toBe(403);
    const form = await openForm(t.app, `/unsubscribe/${token}`);
    const odd = await postForm(
      t.app,
      `/unsubscribe/${token}`,
      { _csrf: form.csrf, action: 'explode' },
      { cookie: form.cookie },
    );
    expect(odd.statusCode).toBe(400);
    expect(odd.body).toContain('the action must be');
    expect(await statuses(ana)).toEqual({ list: 'confirmed', other: 'confirmed' });
  });

  it('speaks Simplified Chinese when asked, and says in it that coming back waits for the mailed link', async () => {
    const token = signUnsubscribe(t.signer, ana, list);
    const res = await t.app.inject({ url: `/unsubscribe/${token}?lang=zh-CN` });
    expect(res.body).toContain('退订全部');
    const form = await openForm(t.app, `/unsubscribe/${token}?lang=zh-CN`);
    const left = await postForm(
      t.app,
      `/unsubscribe/${token}?lang=zh-CN`,
      { _csrf: form.csrf, action: 'unsubscribe', lang: 'zh-CN' },
      { cookie: form.cookie },
    );
    const csrf = /name="_csrf" value="([^"]+)"/.exec(left.body)![1]!;
    const back = await postForm(
      t.app,
      `/unsubscribe/${token}?lang=zh-CN`,
      { _csrf: csrf, action: 'resubscribe', lists: String(list), lang: 'zh-CN' },
      { cookie: form.cookie },
    );
    expect(back.body).toContain('请查收邮件');
    expect(back.body).toContain('请查收邮件并确认');
    expect(await statuses(ana)).toEqual({ list: 'pending', other: 'confirmed' });
  });
});
