import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signConfirm } from '../src/core/reader-tokens.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { RateLimitRepository } from '../src/subscriptions/rate-limit.repository.ts';
import { openForm, postForm, startTestApp, type TestApp } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase, truncateAll } from './helpers/test-db.ts';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  t = await startTestApp(db, { SIGNUP_LIMIT_PER_IP: '1000' });
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

let listId: number;
beforeEach(async () => {
  await truncateAll(db);
  await sql`truncate rate_limits`.execute(db.db);
  listId = (await new ListsService(db.db).create({ slug: 'ai-daily', name: 'AI Daily', language: 'en' })).id;
  // the form caches the public lists for a few seconds; a fresh app sees the new list at once
  await t.app.close();
  t = await startTestApp(db, { SIGNUP_LIMIT_PER_IP: '1000' });
});

async function subscribe(fields: Record<string, string | string[]>, headers: Record<string, string> = {}) {
  const form = await openForm(t.app, '/subscribe', headers);
  return postForm(t.app, '/subscribe', { _csrf: form.csrf, ...fields }, { cookie: form.cookie, ...headers });
}

const outbox = () =>
  db.db.selectFrom('outbox').select(['kind', 'to_email', 'payload', 'status']).orderBy('id').execute();
const subscription = (email: string) =>
  db.db
    .selectFrom('subscriptions as sn')
    .innerJoin('subscribers as s', 's.id', 'sn.subscriber_id')
    .select(['s.id', 's.name', 'sn.status', 'sn.source', 'sn.ip', 'sn.list_id'])
    .where('s.email', '=', email)
    .execute();

/** The page without the parts that differ per response by design (the fresh CSRF token, none here). */
const pageOf = (body: string) => body;

describe('signup form', () => {
  it('serves a labelled form in English and in Simplified Chinese', async () => {
    const en = await t.app.inject({ url: '/' });
    expect(en.statusCode).toBe(200);
    expect(en.headers['content-type']).toMatch(/text\/html/);
    expect(en.body).toContain('<label for="email">Email address</label>');
    expect(en.body).toContain('<label for="name">');
    expect(en.body).toContain('name="_csrf"');
    expect(en.body).toContain('<html lang="en">');
    const zh = await t.app.inject({
      url: '/subscribe',
      headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.5' },
    });
    expect(zh.body).toContain('<html lang="zh-CN">');
    expect(zh.body).toContain('邮箱地址');
    const asked = await t.app.inject({ url: '/subscribe?lang=zh-CN', headers: { 'accept-language': 'en' } });
    expect(asked.body).toContain('邮箱地址');
  });

  it('offers a checkbox per public list when there is more than one, and never a private list', async () => {
    const lists = new ListsService(db.db);
    await lists.create({ slug: 'weekly', name: 'Weekly Review' });
    await lists.create({ slug: 'staff', name: 'Staff Only', isPublic: false });
    const fresh = await startTestApp(db);
    const page = await fresh.app.inject({ url: '/' });
    await fresh.app.close();
    expect(page.body.match(/type="checkbox" name="lists"/g)).toHaveLength(2);
    expect(page.body).toContain('Weekly Review');
    expect(page.body).not.toContain('Staff Only');
  });

  it('a new address becomes pending, with one confirmation mail in the outbox, and gets "check your inbox"', async () => {
    const res = await subscribe({ email: ' Ana@Example.COM ', name: 'Ana', lists: String(listId) });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Check your inbox');
    const rows = await subscription('ana@example.com');
    expect(rows).toEqual([
      // the name waits with the confirmation mail until its link is pressed (issue 11.2)
      { id: rows[0]!.id, name: null, status: 'pending', source: 'form', ip: '127.0.0.1', list_id: listId },
    ]);
    const mail = await outbox();
    expect(mail).toEqual([
      {
        kind: 'confirm',
        to_email: 'ana@example.com',
        payload: { lists: [listId], lang: 'en', name: 'Ana' },
        status: 'pending',
      },
    ]);
  });

  it('answers a new, a pending, a confirmed, an unsubscribed, a suppressed and a blocklisted address with the identical page', async () => {
    await db.db
      .insertInto('suppressions')
      .values({ email: 'gone@example.com', reason: 'hard_bounce' })
      .execute();
    await db.db
      .insertInto('subscribers')
      .values({ email: 'blocked@example.com', status: 'blocklisted' })
      .execute();
    await subscribe({ email: 'pending@example.com' });
    await subscribe({ email: 'confirmed@example.com' });
    await subscribe({ email: 'left@example.com' });
    await db.db
      .updateTable('subscriptions')
      .set({ status: 'confirmed' })
      .where('subscriber_id', '=', (await subscription('confirmed@example.com'))[0]!.id)
      .execute();
    await db.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed' })
      .where('subscriber_id', '=', (await subscription('left@example.com'))[0]!.id)
      .execute();
    const bodies = [];
    const headerNames: string[] = [];
    for (const email of [
      'new@example.com',
      'pending@example.com',
      'confirmed@example.com',
      'left@example.com',
      'gone@example.com',
      'blocked@example.com',
    ]) {
      const res = await subscribe({ email });
      expect(res.statusCode).toBe(200);
      bodies.push(pageOf(res.body));
      headerNames.push(Object.keys(res.headers).sort().join());
    }
    expect(new Set(bodies).size).toBe(1);
    expect(new Set(headerNames).size).toBe(1);
    // and nothing was written or queued for the suppressed or blocklisted address
    expect(await subscription('gone@example.com')).toEqual([]);
    expect(await subscription('blocked@example.com')).toEqual([]);
    expect((await outbox()).filter((m) => /gone|blocked/.test(m.to_email))).toEqual([]);
  });

  it('sends at most one confirmation mail per address per ten minutes', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await subscribe({ email: 'repeat@example.com' })).statusCode).toBe(200);
    }
    expect((await outbox()).filter((m) => m.to_email === 'repeat@example.com')).toHaveLength(1);
    // once the window has passed, a new confirmation may go
    await sql`update rate_limits set expires_at = now() - interval '1 second'`.execute(db.db);
    await subscribe({ email: 'repeat@example.com' });
    expect((await outbox()).filter((m) => m.to_email === 'repeat@example.com')).toHaveLength(2);
  });

  it('an already confirmed address gets no mail, and a stranger cannot rename a subscriber', async () => {
    await subscribe({ email: 'kim@example.com', name: 'Kim' });
    await db.db.updateTable('subscriptions').set({ status: 'confirmed' }).execute();
    await db.db.updateTable('subscribers').set({ name: 'Kim' }).execute();
    await db.db.deleteFrom('outbox').execute();
    await sql`truncate rate_limits`.execute(db.db);
    await subscribe({ email: 'kim@example.com', name: 'Mallory' });
    expect(await outbox()).toEqual([]);
    expect((await subscription('kim@example.com'))[0]!.name).toBe('Kim');
  });

  it("a stranger's name reaches no subscriber: a new address is stored without it (issue 11.2)", async () => {
    const words = 'Your account is locked. Restore it at https://evil.example/restore';
    await subscribe({ email: 'victim@example.com', name: words });
    const [row] = await subscription('victim@example.com');
    expect(row!.name).toBeNull();
    // the name waits in the confirmation mail's row (never in its text: see signup-outbox.test.ts)
    expect((await outbox())[0]!.payload).toEqual({ lists: [listId], lang: 'en', name: words });
  });

  it('a single-opt-in signup joins at once but takes no name: no link proved the address', async () => {
    await db.db.updateTable('lists').set({ opt_in: 'single' }).execute();
    await subscribe({ email: 'quick@example.com', name: 'Your prize: https://evil.example' });
    const [row] = await subscription('quick@example.com');
    expect(row).toMatchObject({ status: 'confirmed', name: null });
    expect((await outbox()).map((m) => [m.kind, m.payload])).toEqual([
      ['welcome', { lists: [listId], lang: 'en' }],
    ]);
  });

  it('an unsubscribed reader is not re-subscribed by the form: they get a confirmation mail and stay out until they click', async () => {
    await subscribe({ email: 'left@example.com' });
    await db.db.updateTable('subscriptions').set({ status: 'unsubscribed' }).execute();
    await sql`truncate rate_limits`.execute(db.db);
    await db.db.deleteFrom('outbox').execute();
    await subscribe({ email: 'left@example.com' });
    expect((await subscription('left@example.com'))[0]!.status).toBe('unsubscribed');
    expect((await outbox()).map((m) => m.kind)).toEqual(['confirm']);
  });

  it('a single-opt-in list confirms at once and queues a welcome mail instead of a confirmation', async () => {
    await db.db.updateTable('lists').set({ opt_in: 'single' }).execute();
    await subscribe({ email: 'quick@example.com' });
    expect((await subscription('quick@example.com'))[0]!.status).toBe('confirmed');
    expect((await outbox()).map((m) => m.kind)).toEqual(['welcome']);
  });

  it('a filled honeypot is answered like a person but stores and sends nothing', async () => {
    const res = await subscribe({ email: 'bot@example.com', website: 'http://spam.example' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Check your inbox');
    expect(await subscription('bot@example.com')).toEqual([]);
    expect(await outbox()).toEqual([]);
  });

  it('refuses an address with CR/LF in it with a 400 naming the problem, and stores nothing', async () => {
    const res = await subscribe({ email: 'victim@example.com\r\nBcc: all@example.com', name: 'x' });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('address contains spaces or control characters');
    expect(res.body).toContain('role="alert"');
    expect(await db.db.selectFrom('subscribers').selectAll().execute()).toEqual([]);
    const bad = await subscribe({ email: 'not-an-address' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('address has no @');
    // the form comes back with what was typed, escaped
    expect(bad.body).toContain('value="not-an-address"');
  });

  it('shows a name of <script>alert(1)</script> as text, never as markup', async () => {
    const res = await subscribe({ email: 'bad', name: '<script>alert(1)</script>' });
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain('<script>alert(1)</script>');
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('refuses a list that is not offered, and asks for a choice when several are', async () => {
    const res = await subscribe({ email: 'a@example.com', lists: '999' });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('One of the lists chosen does not exist');
    const junk = await subscribe({ email: 'a@example.com', lists: '1 or 1=1' });
    expect(junk.statusCode).toBe(400);
    await new ListsService(db.db).create({ slug: 'second', name: 'Second' });
    const fresh = await startTestApp(db);
    const form = await openForm(fresh.app, '/');
    const none = await postForm(
      fresh.app,
      '/subscribe',
      { _csrf: form.csrf, email: 'a@example.com' },
      { cookie: form.cookie },
    );
    await fresh.app.close();
    expect(none.statusCode).toBe(400);
    expect(none.body).toContain('Please choose at least one list');
    expect(await outbox()).toEqual([]);
  });

  it('refuses a POST without the CSRF token or cookie', async () => {
    const noToken = await postForm(t.app, '/subscribe', { email: 'a@example.com' });
    expect(noToken.statusCode).toBe(403);
    expect(noToken.body).toContain('This form has expired');
    const form = await openForm(t.app, '/');
    const wrongCookie = await postForm(
      t.app,
      '/subscribe',
      { _csrf: form.csrf, email: 'a@example.com' },
      { cookie: '_csrf=forged' },
    );
    expect(wrongCookie.statusCode).toBe(403);
    expect(await subscription('a@example.com')).toEqual([]);
  });
});

describe('signup rate limits', () => {
  it('answers 429 with a page beyond the per-address limit (3 an hour)', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await subscribe({ email: 'flood@example.com' })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const res = await subscribe({ email: 'flood@example.com' });
    expect(res.body).toContain('Too many attempts');
    expect(res.headers['retry-after']).toBe('600');
    expect((await outbox()).filter((m) => m.to_email === 'flood@example.com')).toHaveLength(1);
  });

  it('answers 429 beyond the per-IP limit, counted in the database so every process shares it, and a forged X-Forwarded-For does not evade it', async () => {
    const limited = await startTestApp(db, { SIGNUP_LIMIT_PER_IP: '4' });
    const other = await startTestApp(db, { SIGNUP_LIMIT_PER_IP: '4' });
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const app = i % 2 === 0 ? limited.app : other.app;
      const spoofed = { 'x-forwarded-for': `203.0.113.${i}` };
      const form = await openForm(app, '/', spoofed);
      const res = await postForm(
        app,
        '/subscribe',
        { _csrf: form.csrf, email: `p${i}@example.com` },
        { cookie: form.cookie, ...spoofed },
      );
      statuses.push(res.statusCode);
    }
    await limited.app.close();
    await other.app.close();
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    expect((await outbox()).length).toBe(4);
    // the counters hold no address or IP in the clear
    const keys = await db.db.selectFrom('rate_limits').select('key').execute();
    expect(keys.some((k) => /example\.com|127\.0\.0\.1/.test(k.key))).toBe(false);
  });
});

describe('rate-limit counters', () => {
  it('a closed window starts again at one, and pruning removes only closed windows', async () => {
    const limits = new RateLimitRepository(db.db);
    expect(
      await limits.hit([
        { key: 'k:open', windowSeconds: 600 },
        { key: 'k:closed', windowSeconds: 600 },
      ]),
    ).toEqual([1, 1]);
    expect(
      await limits.hit([
        { key: 'k:open', windowSeconds: 600 },
        { key: 'k:closed', windowSeconds: 600 },
      ]),
    ).toEqual([2, 2]);
    await sql`update rate_limits set expires_at = now() - interval '1 second' where key = 'k:closed'`.execute(
      db.db,
    );
    expect(await limits.prune()).toBe(1);
    expect(
      await limits.hit([
        { key: 'k:open', windowSeconds: 600 },
        { key: 'k:closed', windowSeconds: 600 },
      ]),
    ).toEqual([3, 1]);
  });
});

describe('confirmation link', () => {
  async function pendingReader(email = 'new@example.com') {
    await subscribe({ email, lists: String(listId) });
    return (await subscription(email))[0]!.id;
  }

  async function confirmWith(token: string) {
    const form = await openForm(t.app, `/confirm/${token}`);
    return postForm(t.app, `/confirm/${token}`, { _csrf: form.csrf, lang: 'en' }, { cookie: form.cookie });
  }
  const confirmMails = (email: string) =>
    db.db
      .selectFrom('outbox')
      .select(['id', 'payload'])
      .where('to_email', '=', email)
      .where('kind', '=', 'confirm')
      .orderBy('id')
      .execute();
  const reader = async (email: string) => (await subscription(email))[0]!;

  it("a name takes effect only when its own link confirms: the confirming signup's name wins (issue 11.2)", async () => {
    // a stranger signs the address up with words of their own; later the owner signs up with her name
    await subscribe({ email: 'owner@example.com', name: 'Your account is locked' });
    await sql`truncate rate_limits`.execute(db.db); // past the ten-minute window of confirmation mail
    await subscribe({ email: 'owner@example.com', name: 'Olivia' });
    const [stranger, owner] = await confirmMails('owner@example.com');
    // the owner's signup took the stranger's words off the first link
    expect(stranger!.payload).toEqual({ lists: [listId], lang: 'en' });
    expect(owner!.payload).toEqual({ lists: [listId], lang: 'en', name: 'Olivia' });
    const { id } = await reader('owner@example.com');
    expect((await reader('owner@example.com')).name).toBeNull();

    const res = await confirmWith(signConfirm(t.signer, id, [listId], undefined, owner!.id));
    expect(res.statusCode).toBe(200);
    expect(await reader('owner@example.com')).toMatchObject({ status: 'confirmed', name: 'Olivia' });
    // the stranger's link, pressed afterwards, confirms nothing new and renames nobody
    await confirmWith(signConfirm(t.signer, id, [listId], undefined, stranger!.id));
    expect((await reader('owner@example.com')).name).toBe('Olivia');
  });

  it('two signups sharing one confirmation mail (within its window): neither name wins', async () => {
    await subscribe({ email: 'shared@example.com', name: 'Click https://evil.example' });
    await subscribe({ email: 'shared@example.com', name: 'Sam' });
    const mails = await confirmMails('shared@example.com');
    expect(mails).toHaveLength(1);
    expect(mails[0]!.payload).toEqual({ lists: [listId], lang: 'en' });
    const { id } = await reader('shared@example.com');
    await confirmWith(signConfirm(t.signer, id, [listId], undefined, mails[0]!.id));
    expect(await reader('shared@example.com')).toMatchObject({ status: 'confirmed', name: null });
  });

  it('the same name sent twice within the window stays with the link; a link from before names nobody', async () => {
    await subscribe({ email: 'twice@example.com', name: 'Tia' });
    await subscribe({ email: 'twice@example.com', name: 'Tia' });
    const [mail] = await confirmMails('twice@example.com');
    expect(mail!.payload).toMatchObject({ name: 'Tia' });
    const { id } = await reader('twice@example.com');
    // a link without the mail's id (made before names waited for confirmation) confirms, names nobody
    await confirmWith(signConfirm(t.signer, id, [listId]));
    expect(await reader('twice@example.com')).toMatchObject({ status: 'confirmed', name: null });
  });

  it('a confirmed reader signing up for another list is renamed only by that list’s confirmation', async () => {
    const second = (await new ListsService(db.db).create({ slug: 'second', name: 'Second' })).id;
    await t.app.close();
    t = await startTestApp(db, { SIGNUP_LIMIT_PER_IP: '1000' });
    const sub = await db.db
      .insertInto('subscribers')
      .values({ email: 'carl@example.com', name: 'Carl' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db.db
      .insertInto('subscriptions')
      .values({ subscriber_id: sub.id, list_id: listId, status: 'confirmed', confirmed_at: new Date() })
      .execute();
    await subscribe({ email: 'carl@example.com', name: 'Mallory', lists: [String(listId), String(second)] });
    expect((await reader('carl@example.com')).name).toBe('Carl');
    const [mail] = await confirmMails('carl@example.com');
    expect(mail!.payload).toEqual({ lists: [second], lang: 'en', name: 'Mallory' });
    // only the owner's press of that link would apply it; until then Carl stays Carl
    await confirmWith(signConfirm(t.signer, sub.id, [second], undefined, mail!.id));
    expect((await reader('carl@example.com')).name).toBe('Mallory');
  });

  it('GET shows a Confirm button and changes nothing (mail scanners open links)', async () => {
    const id = await pendingReader();
    const token = signConfirm(t.signer, id, [listId]);
    const res = await t.app.inject({ url: `/confirm/${token}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Confirm subscription</button>');
    expect(res.body).toContain('AI Daily');
    expect((await subscription('new@example.com'))[0]!.status).toBe('pending');
  });

  it('POST confirms, queues one welcome mail, and a second POST changes nothing', async () => {
    const id = await pendingReader();
    const token = signConfirm(t.signer, id, [listId]);
    const form = await openForm(t.app, `/confirm/${token}`);
    const first = await postForm(
      t.app,
      `/confirm/${token}`,
      { _csrf: form.csrf, lang: 'en' },
      { cookie: form.cookie },
    );
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('You are subscribed');
    expect(first.body).toMatch(/href="\/preferences\/[^"]+"/);
    const again = await postForm(
      t.app,
      `/confirm/${token}`,
      { _csrf: form.csrf, lang: 'en' },
      { cookie: form.cookie },
    );
    expect(again.statusCode).toBe(200);
    expect((await subscription('new@example.com'))[0]!.status).toBe('confirmed');
    expect((await outbox()).map((m) => m.kind)).toEqual(['confirm', 'welcome']);
  });

  it('POST needs the CSRF token', async () => {
    const id = await pendingReader();
    const token = signConfirm(t.signer, id, [listId]);
    const res = await postForm(t.app, `/confirm/${token}`, {});
    expect(res.statusCode).toBe(403);
    expect((await subscription('new@example.com'))[0]!.status).toBe('pending');
  });

  it('tampered, truncated, expired, wrong-purpose and other-subscriber tokens get a 400 page offering a new link', async () => {
    const id = await pendingReader('a@example.com');
    const other = await pendingReader('b@example.com');
    const good = signConfirm(t.signer, id, [listId]);
    const [payload, signature] = good.split('.') as [string, string];
    const forged = `${Buffer.from(JSON.stringify({ s: other, l: [listId], p: 'confirm', e: 9999999999 })).toString('base64url')}.${signature}`;
    const expired = signConfirm(t.signer, id, [listId], new Date(Date.now() - 49 * 3600 * 1000));
    const cases = {
      tampered: `${payload}.${signature.slice(0, -2)}AA`,
      truncated: good.slice(0, good.length - 5),
      expired,
      wrongPurpose: t.signer.sign('unsubscribe', { s: id, l: listId }),
      otherSubscriber: forged,
      garbage: 'not-a-token',
    };
    const form = await openForm(t.app, `/confirm/${good}`);
    for (const [name, token] of Object.entries(cases)) {
      const get = await t.app.inject({ url: `/confirm/${token}` });
      expect(get.statusCode, name).toBe(400);
      expect(get.body, name).toContain('href="/subscribe?lang=en"');
      expect(get.body, name).toContain(
        name === 'expired' ? 'This link has expired' : 'This link is not valid',
      );
      const post = await postForm(t.app, `/confirm/${token}`, { _csrf: form.csrf }, { cookie: form.cookie });
      expect(post.statusCode, name).toBe(400);
    }
    expect((await subscription('a@example.com'))[0]!.status).toBe('pending');
    expect((await subscription('b@example.com'))[0]!.status).toBe('pending');
  });

  it('a token for one list cannot confirm another', async () => {
    const second = (await new ListsService(db.db).create({ slug: 'second', name: 'Second' })).id;
    const id = await pendingReader();
    await db.db
      .insertInto('subscriptions')
      .values({ subscriber_id: id, list_id: second, status: 'pending' })
      .execute();
    const token = signConfirm(t.signer, id, [listId]);
    const form = await openForm(t.app, `/confirm/${token}`);
    await postForm(t.app, `/confirm/${token}`, { _csrf: form.csrf }, { cookie: form.cookie });
    const rows = await subscription('new@example.com');
    expect(rows.find((r) => r.list_id === listId)!.status).toBe('confirmed');
    expect(rows.find((r) => r.list_id === second)!.status).toBe('pending');
  });

  it('a suppressed address is not confirmed by an old link', async () => {
    const id = await pendingReader();
    await db.db
      .insertInto('suppressions')
      .values({ email: 'new@example.com', reason: 'complaint' })
      .execute();
    const token = signConfirm(t.signer, id, [listId]);
    const form = await openForm(t.app, `/confirm/${token}`);
    const res = await postForm(t.app, `/confirm/${token}`, { _csrf: form.csrf }, { cookie: form.cookie });
    expect(res.statusCode).toBe(409);
    expect((await subscription('new@example.com'))[0]!.status).toBe('pending');
  });
});
