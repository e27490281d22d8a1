import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { signPreferences } from '../src/core/reader-tokens.ts';
import { openForm, postForm, startTestApp, type TestApp } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase, truncateAll } from './helpers/test-db.ts';

let db: TestDatabase;
let t: TestApp;
let ai: number;
let weekly: number;
let ana: number;

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
  ai = (await lists.create({ slug: 'ai-daily', name: 'AI 日报', topics: ['人工智能', '大模型'] })).id;
  weekly = (await lists.create({ slug: 'weekly', name: 'Weekly' })).id;
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
    .values({ subscriber_id: ana, list_id: ai, status: 'confirmed' })
    .execute();
});

const subs = async () =>
  db.db
    .selectFrom('subscriptions')
    .select(['list_id', 'status', 'topics'])
    .where('subscriber_id', '=', ana)
    .orderBy('list_id')
    .execute();

describe('preferences', () => {
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

  it('saves name, lists and topics', async () => {
    const token = signPreferences(t.signer, ana);
    const form = await openForm(t.app, `/preferences/${token}`);
    const res = await postForm(
      t.app,
      `/preferences/${token}`,
      {
        _csrf: form.csrf,
        action: 'save',
        name: 'Ana Li',
        lists: [String(weekly), String(ai)],
        [`topics_${ai}`]: ['芯片', '大模型'],
      },
      { cookie: form.cookie },
    );
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Your preferences are saved');
    expect(await subs()).toEqual([
      { list_id: ai, status: 'confirmed', topics: ['芯片', '大模型'] },
      { list_id: weekly, status: 'confirmed', topics: [] },
    ]);
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
      { _csrf: again.csrf, action: 'save', lists: String(weekly) },
      { cookie: again.cookie },
    );
    expect((await subs()).map((s) => s.status)).toEqual(['unsubscribed', 'confirmed']);
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
