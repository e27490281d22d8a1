import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { signConfirm, signPreferences, signUnsubscribe } from '../src/core/reader-tokens.ts';
import { openForm, postForm, startTestApp, type TestApp } from './helpers/http-app.ts';
import { describeEachEngine, type TestDatabase, truncateAll } from './helpers/test-db.ts';

/** The whole page on both engines: the opt-in statement it shares with "Subscribe again" runs on each. */
describeEachEngine('preferences', (current) => {
  let db: TestDatabase;
  let t: TestApp;
  let ai: number;
  let weekly: number;
  let single: number;
  let ana: number;

  beforeAll(async () => {
    db = current();
    t = await startTestApp(db);
  });
  afterAll(async () => {
    await t.app.close();
  });

  beforeEach(async () => {
    await truncateAll(db);
    const lists = new ListsService(db.db);
    ai = (await lists.create({ slug: 'ai-daily', name: 'AI 日报', topics: ['人工智能', '大模型'] })).id;
    weekly = (await lists.create({ slug: 'weekly', name: 'Weekly' })).id;
    single = (await lists.create({ slug: 'notes', name: 'Notes', optIn: 'single' })).id;
    await lists.create({ slug: 'staff', name: 'Staff Only', isPublic: false });
    // categories of past issues are offered too; a draft's are not
    await db.db
      .insertInto('issues')
      .values([
        {
          list_id: ai,
          status: 'sent',
          subject: 's',
          title: 't',
          categories: ['芯片', '大模型'],
          digest_source: '',
          digest_hash: 'a',
        },
        {
          list_id: ai,
          status: 'draft',
          subject: 's',
          title: 't',
          categories: ['机密'],
          digest_source: '',
          digest_hash: 'b',
        },
      ])
      .execute();
    ana = (
      await db.db
        .insertInto('subscribers')
        .values({ email: 'ana@example.com', name: 'Ana' })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    await db.db
      .insertInto('subscriptions')
      .values({ subscriber_id: ana, list_id: ai, status: 'confirmed', confirmed_at: new Date() })
      .execute();
  });

  const outbox = () =>
    db.db.selectFrom('outbox').select(['kind', 'to_email', 'payload']).orderBy('id').execute();
  const reader = () =>
    db.db
      .selectFrom('subscribers')
      .select(['name', 'track_clicks', 'updated_at'])
      .where('id', '=', ana)
      .executeTakeFirst();
  const save = (
    token: string,
    form: { csrf: string; cookie: string },
    fields: Record<string, string | string[]>,
  ) =>
    postForm(
      t.app,
      `/preferences/${token}`,
      { _csrf: form.csrf, action: 'save', ...fields },
      { cookie: form.cookie },
    );

  const subs = async () =>
    db.db
      .selectFrom('subscriptions')
      .select(['list_id', 'status', 'topics'])
      .where('subscriber_id', '=', ana)
      .orderBy('list_id')
      .execute();

  it('shows name, public lists and topics (list topics plus categories of past issues), never another list', async () => {
    const token = signPreferences(t.signer, ana);
    const res = await t.app.inject({ url: `/preferences/${token}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('value="Ana"');
    for (const topic of ['人工智能', '大模型', '芯片']) expect(res.body).toContain(`value="${topic}"`);
    expect(res.body).not.toContain('机密');
    expect(res.body).not.toContain('Staff Only');
    expect(res.body).toMatch(new RegExp(`name="lists" value="${ai}" checked`));
    expect(res.body).toMatch(new RegExp(`name="lists" value="${weekly}">`));
  });

  it('saves name, lists and topics; a single-opt-in list joins at once, with no mail', async () => {
    const token = signPreferences(t.signer, ana);
    const form = await openForm(t.app, `/preferences/${token}`);
    const res = await postForm(
      t.app,
      `/preferences/${token}`,
      {
        _csrf: form.csrf,
        action: 'save',
        name: 'Ana Li',
        lists: [String(single), String(ai)],
        [`topics_${ai}`]: ['芯片', '大模型'],
      },
      { cookie: form.cookie },
    );
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Your preferences are saved');
    expect(res.body).not.toContain('check your inbox');
    expect(await subs()).toEqual([
      { list_id: ai, status: 'confirmed', topics: ['芯片', '大模型'] },
      { list_id: single, status: 'confirmed', topics: [] },
    ]);
    expect(await outbox()).toEqual([]);
    const name = await db.db
      .selectFrom('subscribers')
      .select('name')
      .where('id', '=', ana)
      .executeTakeFirst();
    expect(name?.name).toBe('Ana Li');

    // unticking a list leaves it
    const again = await openForm(t.app, `/preferences/${token}`);
    await postForm(
      t.app,
      `/preferences/${token}`,
      { _csrf: again.csrf, action: 'save', lists: String(single) },
      { cookie: again.cookie },
    );
    expect((await subs()).map((s) => s.status)).toEqual(['unsubscribed', 'confirmed']);
  });

  it('a double-opt-in list ticked waits for a confirmation mail; the list already confirmed stays confirmed (issue 11.4)', async () => {
    const token = signPreferences(t.signer, ana);
    const form = await openForm(t.app, `/preferences/${token}`);
    const res = await save(token, form, { lists: [String(ai), String(weekly)], [`topics_${ai}`]: '芯片' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Your preferences are saved');
    expect(res.body).toContain('To start receiving Weekly, check your inbox to confirm');
    expect(await subs()).toEqual([
      { list_id: ai, status: 'confirmed', topics: ['芯片'] },
      { list_id: weekly, status: 'pending', topics: [] },
    ]);
    expect(await outbox()).toEqual([
      {
        kind: 'confirm',
        to_email: 'ana@example.com',
        payload: { lists: [weekly], lang: 'en', via: 'preferences' },
      },
    ]);
    // the page shows the list ticked and waiting
    const page = await t.app.inject({ url: `/preferences/${token}` });
    expect(page.body).toMatch(new RegExp(`name="lists" value="${weekly}" checked`));
    expect(page.body).toContain('Waiting for your confirmation');

    // saving the page again keeps it pending and mails nothing more
    await save(token, await openForm(t.app, `/preferences/${token}`), {
      lists: [String(ai), String(weekly)],
      name: 'Ana',
    });
    expect((await subs()).map((s) => s.status)).toEqual(['confirmed', 'pending']);
    expect(await outbox()).toHaveLength(1);

    // the mailed link confirms it
    const confirm = signConfirm(t.signer, ana, [weekly]);
    const confirmForm = await openForm(t.app, `/confirm/${confirm}`);
    const confirmed = await postForm(
      t.app,
      `/confirm/${confirm}`,
      { _csrf: confirmForm.csrf },
      { cookie: confirmForm.cookie },
    );
    expect(confirmed.statusCode).toBe(200);
    expect((await subs()).map((s) => s.status)).toEqual(['confirmed', 'confirmed']);
  });

  it('unticking and ticking a list again mails at most one confirmation per window, whichever page asks', async () => {
    const token = signPreferences(t.signer, ana);
    for (const lists of [[ai, weekly], [ai], [ai, weekly], [ai], [ai, weekly]]) {
      await save(token, await openForm(t.app, `/preferences/${token}`), { lists: lists.map(String) });
    }
    expect((await subs()).map((s) => s.status)).toEqual(['confirmed', 'pending']);
    const mails = await outbox();
    expect(mails.map((m) => m.kind)).toEqual(['confirm']);

    // a list the reader had confirmed and left comes back pending too, not confirmed
    await db.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed', unsubscribed_at: new Date() })
      .where('subscriber_id', '=', ana)
      .execute();
    const res = await save(token, await openForm(t.app, `/preferences/${token}`), {
      lists: [String(ai), String(weekly)],
    });
    expect(res.body).toContain('To start receiving AI 日报, Weekly, check your inbox to confirm');
    expect((await subs()).map((s) => s.status)).toEqual(['pending', 'pending']);
    // "Subscribe again" on the unsubscribe page shares the window: still one mail
    await db.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed', unsubscribed_at: new Date(), confirmed_at: new Date() })
      .where('subscriber_id', '=', ana)
      .execute();
    const unsubscribe = signUnsubscribe(t.signer, ana, ai);
    const page = await openForm(t.app, `/unsubscribe/${unsubscribe}`);
    await postForm(
      t.app,
      `/unsubscribe/${unsubscribe}`,
      { _csrf: page.csrf, action: 'resubscribe', lists: String(ai) },
      { cookie: page.cookie },
    );
    expect((await subs()).map((s) => s.status)).toEqual(['pending', 'unsubscribed']);
    expect((await outbox()).map((m) => m.kind)).toEqual(['confirm']);
  });

  it('tells the reader in Chinese to check their inbox', async () => {
    const token = signPreferences(t.signer, ana);
    const form = await openForm(t.app, `/preferences/${token}?lang=zh-CN`);
    const res = await postForm(
      t.app,
      `/preferences/${token}?lang=zh-CN`,
      { _csrf: form.csrf, action: 'save', lang: 'zh-CN', lists: [String(ai), String(weekly)] },
      { cookie: form.cookie },
    );
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('要开始接收「Weekly」，请查收邮件并确认');
    expect(res.body).toContain('等待确认');
    expect((await outbox()).map((m) => m.payload)).toEqual([
      { lists: [weekly], lang: 'zh-CN', via: 'preferences' },
    ]);
  });

  it('the GET of the page changes nothing, in any language', async () => {
    await db.db
      .insertInto('subscriptions')
      .values({ subscriber_id: ana, list_id: weekly, status: 'pending' })
      .execute();
    const before = { subs: await subs(), outbox: await outbox(), reader: await reader() };
    const token = signPreferences(t.signer, ana);
    for (const url of [
      `/preferences/${token}`,
      `/preferences/${token}?lang=zh-CN`,
      `/preferences/${token}?lists=${weekly}&action=save`,
    ]) {
      expect((await t.app.inject({ url })).statusCode).toBe(200);
    }
    expect({ subs: await subs(), outbox: await outbox(), reader: await reader() }).toEqual(before);
  });

  it('stores a name of <script>alert(1)</script> as given and shows it escaped', async () => {
    const token = signPreferences(t.signer, ana);
    const form = await openForm(t.app, `/preferences/${token}`);
    await postForm(
      t.app,
      `/preferences/${token}`,
      { _csrf: form.csrf, action: 'save', name: '<script>alert(1)</script>', lists: String(ai) },
      { cookie: form.cookie },
    );
    const page = await t.app.inject({ url: `/preferences/${token}` });
    expect(page.body).not.toContain('<script>alert(1)</script>');
    expect(page.body).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"');
  });

  it('refuses a topic or list the page did not offer, changing nothing', async () => {
    const token = signPreferences(t.signer, ana);
    const form = await openForm(t.app, `/preferences/${token}`);
    const staff = await db.db
      .selectFrom('lists')
      .select('id')
      .where('slug', '=', 'staff')
      .executeTakeFirstOrThrow();
    const cases = [
      { lists: String(ai), [`topics_${ai}`]: '机密' },
      { lists: String(staff.id) },
      { lists: 'abc' },
    ];
    for (const fields of cases) {
      const res = await postForm(
        t.app,
        `/preferences/${token}`,
        { _csrf: form.csrf, action: 'save', name: 'X', ...fields },
        { cookie: form.cookie },
      );
      expect(res.statusCode).toBe(400);
    }
    expect(await subs()).toEqual([{ list_id: ai, status: 'confirmed', topics: [] }]);
  });

  it('"unsubscribe from everything" leaves every list and queues a goodbye', async () => {
    const token = signPreferences(t.signer, ana);
    const form = await openForm(t.app, `/preferences/${token}`);
    const res = await postForm(
      t.app,
      `/preferences/${token}`,
      { _csrf: form.csrf, action: 'leave-all' },
      { cookie: form.cookie },
    );
    expect(res.statusCode).toBe(200);
    expect((await subs()).map((s) => s.status)).toEqual(['unsubscribed']);
    const mail = await db.db.selectFrom('outbox').select('kind').execute();
    expect(mail).toEqual([{ kind: 'goodbye' }]);
  });

  it('a suppressed address keeps what it has but cannot join lists', async () => {
    await db.db
      .insertInto('suppressions')
      .values({ email: 'ana@example.com', reason: 'hard_bounce' })
      .execute();
    const token = signPreferences(t.signer, ana);
    const form = await openForm(t.app, `/preferences/${token}`);
    const res = await postForm(
      t.app,
      `/preferences/${token}`,
      { _csrf: form.csrf, action: 'save', lists: [String(ai), String(weekly)] },
      { cookie: form.cookie },
    );
    expect(res.body).toContain('Mail to this address was refused earlier');
    expect((await subs()).map((s) => s.list_id)).toEqual([ai]);
  });

  it('needs the CSRF token and a valid preferences token', async () => {
    const token = signPreferences(t.signer, ana);
    const noCsrf = await postForm(t.app, `/preferences/${token}`, { action: 'leave-all' });
    expect(noCsrf.statusCode).toBe(403);
    const unsubscribeToken = t.signer.sign('unsubscribe', { s: ana, l: ai });
    expect((await t.app.inject({ url: `/preferences/${unsubscribeToken}` })).statusCode).toBe(400);
    expect((await t.app.inject({ url: `/preferences/${token.slice(0, -3)}` })).statusCode).toBe(400);
    const erased = signPreferences(t.signer, ana + 1000);
    expect((await t.app.inject({ url: `/preferences/${erased}` })).statusCode).toBe(404);
    expect((await subs()).map((s) => s.status)).toEqual(['confirmed']);
  });
});
