import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EditorsService } from '../src/editors/editors.service.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { SubscribersService } from '../src/subscriptions/subscribers.service.ts';
import { openForm, postForm, startTestApp } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const ZH_DAILY = readFileSync(new URL('./fixtures/digests/zh-daily.md', import.meta.url), 'utf8');

let database: TestDatabase;
let app: FastifyInstance;
let editors: EditorsService;

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  ({ app } = await startTestApp(database));
  editors = new EditorsService(database.db);
  await editors.add({ email: 'chief@example.org', role: 'admin' }, { cli: 'test' });
  await editors.add({ email: 'writer@example.org', role: 'editor' }, { cli: 'test' });
  await new ListsService(database.db).create({ slug: 'ai-daily', name: 'AI 日报', language: 'zh-CN' });
  const subscribers = new SubscribersService(database.db);
  for (const email of ['a@example.org', 'b@example.org', 'c@example.org']) {
    await subscribers.add({ email, listSlug: 'ai-daily' });
  }
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

/** Signs in the way a browser does: the link's page, then its button. Returns the cookie header. */
async function signIn(email: string): Promise<string> {
  const url = await editors.signInLinkFor(email, 'http://127.0.0.1:3000', { cli: 'test' });
  const path = new URL(url).pathname;
  const form = await openForm(app, path);
  expect(form.page.body).toContain('<button type="submit">');
  const posted = await postForm(app, path, { _csrf: form.csrf }, { cookie: form.cookie });
  expect(posted.statusCode).toBe(303);
  expect(posted.headers.location).toBe('/console/');
  const setCookie = ([] as string[]).concat(posted.headers['set-cookie'] ?? []);
  const session = setCookie.find((c) => c.startsWith('dm_console='));
  expect(session).toMatch(/HttpOnly/);
  expect(session).toMatch(/SameSite=Strict/);
  expect(session).toMatch(/Path=\/console/);
  return session!.split(';')[0]!;
}

function csrfOf(body: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(body)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return token;
}

describe('console sign-in', () => {
  it('without a session every page answers with the sign-in page, never data', async () => {
    for (const url of ['/console/', '/console/issues/new', '/console/subscribers?q=a', '/console/editors']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toBe('/console/login');
    }
    const post = await postForm(app, '/console/subscribers', { email: 'x@example.org', list: 'ai-daily' });
    expect(post.statusCode).toBe(303);
    expect(await new SubscribersService(database.db).search('x@example.org')).toEqual([]);
  });

  it('answers a known and an unknown address with the same page, byte for byte, and mails only the editor', async () => {
    const ask = async (email: string) => {
      const form = await openForm(app, '/console/login');
      return postForm(app, '/console/login', { _csrf: form.csrf, email }, { cookie: form.cookie });
    };
    const known = await ask('writer@example.org');
    const unknown = await ask('stranger@example.org');
    expect(known.statusCode).toBe(200);
    expect(unknown.statusCode).toBe(200);
    expect(known.body).toBe(unknown.body);
    const mail = await database.db
      .selectFrom('outbox')
      .select(['to_email', 'kind', 'payload'])
      .where('kind', '=', 'sign_in')
      .execute();
    expect(mail.map((m) => m.to_email)).toEqual(['writer@example.org']);
    expect((mail[0]!.payload as { url: string }).url).toMatch(
      /^http:\/\/127\.0\.0\.1:3000\/console\/login\/[A-Za-z0-9_-]{43}$/,
    );
  });

  it('the link page only shows a button: a GET signs nobody in, and a link works once', async () => {
    const url = await editors.signInLinkFor('writer@example.org', 'http://127.0.0.1:3000', { cli: 'test' });
    const path = new URL(url).pathname;
    const get = await app.inject({ method: 'GET', url: path });
    expect(get.statusCode).toBe(200);
    expect(get.headers['set-cookie'] ?? '').not.toMatch(/dm_console=/);
    const form = await openForm(app, path);
    expect((await postForm(app, path, { _csrf: form.csrf }, { cookie: form.cookie })).statusCode).toBe(303);
    const again = await openForm(app, '/console/login');
    const second = await postForm(app, path, { _csrf: again.csrf }, { cookie: again.cookie });
    expect(second.statusCode).toBe(400);
    expect(second.headers['set-cookie'] ?? '').not.toMatch(/dm_console=/);
  });

  it('signing out and removing an editor end their sessions at once', async () => {
    const cookie = await signIn('writer@example.org');
    const dashboard = await app.inject({ method: 'GET', url: '/console/', headers: { cookie } });
    expect(dashboard.statusCode).toBe(200);
    const out = await postForm(app, '/console/logout', { _csrf: csrfOf(dashboard.body) }, { cookie });
    expect(out.statusCode).toBe(303);
    expect((await app.inject({ method: 'GET', url: '/console/', headers: { cookie } })).statusCode).toBe(303);

    await editors.add({ email: 'temp@example.org' }, { cli: 'test' });
    const temp = await signIn('temp@example.org');
    expect(
      (await app.inject({ method: 'GET', url: '/console/', headers: { cookie: temp } })).statusCode,
    ).toBe(200);
    const admin = await signIn('chief@example.org');
    const page = await app.inject({ method: 'GET', url: '/console/editors', headers: { cookie: admin } });
    expect(page.body).toContain('temp@example.org');
    const removed = await postForm(
      app,
      '/console/editors/remove',
      { _csrf: csrfOf(page.body), email: 'temp@example.org' },
      { cookie: admin },
    );
    expect(removed.statusCode).toBe(303);
    expect(
      (await app.inject({ method: 'GET', url: '/console/', headers: { cookie: temp } })).statusCode,
    ).toBe(303);
  });

  it('editors who are not admins do not see or manage editors', async () => {
    const cookie = await signIn('writer@example.org');
    const page = await app.inject({ method: 'GET', url: '/console/editors', headers: { cookie } });
    expect(page.statusCode).toBe(404);
    const dashboard = await app.inject({ method: 'GET', url: '/console/', headers: { cookie } });
    expect(dashboard.body).not.toContain('/console/editors');
  });
});

describe('console work', () => {
  it('a POST without the CSRF token changes nothing', async () => {
    const cookie = await signIn('chief@example.org');
    const res = await postForm(app, '/console/lists', { slug: 'sneaky', name: 'Sneaky' }, { cookie });
    expect(res.statusCode).toBe(403);
    const wrong = await postForm(
      app,
      '/console/lists',
      { slug: 'sneaky', name: 'Sneaky', _csrf: 'x'.repeat(43) },
      { cookie },
    );
    expect(wrong.statusCode).toBe(403);
    expect(await new ListsService(database.db).find('sneaky')).toBeUndefined();
  });

  it('previews a pasted digest, creates the issue, and refuses a send without the typed count', async () => {
    const cookie = await signIn('chief@example.org');
    const page = await app.inject({ method: 'GET', url: '/console/issues/new', headers: { cookie } });
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const csrf = csrfOf(page.body);

    const preview = await postForm(
      app,
      '/console/preview',
      { _csrf: csrf, markdown: ZH_DAILY, list: 'ai-daily' },
      { cookie, accept: 'application/json' },
    );
    expect(preview.statusCode).toBe(200);
    const p = preview.json() as { frame: string; items: number; subject: string; warnings: string[] };
    expect(p.items).toBe(6);
    expect(p.subject).toBe('2025.11.12 全球AI新闻速递');
    const frame = await app.inject({ method: 'GET', url: `${p.frame}?scheme=dark`, headers: { cookie } });
    expect(frame.statusCode).toBe(200);
    expect(frame.headers['content-security-policy']).toMatch(/sandbox/);
    expect(frame.headers['content-security-policy']).not.toMatch(/script-src/);
    expect(frame.body).toContain('某机器人公司宣布人形机器人');
    // another editor cannot read this preview
    const other = await signIn('writer@example.org');
    expect((await app.inject({ method: 'GET', url: p.frame, headers: { cookie: other } })).statusCode).toBe(
      404,
    );

    const broken = await postForm(
      app,
      '/console/issues',
      { _csrf: csrf, markdown: '---\ntitle: x\n---\nno date', list: 'ai-daily' },
      { cookie },
    );
    expect(broken.statusCode).toBe(400);
    expect(broken.body).toMatch(/date/);
    expect(await database.db.selectFrom('issues').select('id').execute()).toEqual([]);

    const created = await postForm(
      app,
      '/console/issues',
      { _csrf: csrf, markdown: ZH_DAILY, list: 'ai-daily' },
      { cookie },
    );
    expect(created.statusCode).toBe(303);
    const issuePath = created.headers.location!.replace(/\?.*$/, '');
    const issuePage = await app.inject({ method: 'GET', url: issuePath, headers: { cookie } });
    expect(issuePage.body).toContain('type 3 below');

    const refused = await postForm(app, `${issuePath}/send`, { _csrf: csrf, confirm: '2' }, { cookie });
    expect(refused.statusCode).toBe(400);
    const [issue] = await database.db.selectFrom('issues').select(['id', 'status']).execute();
    expect(issue!.status).toBe('draft');

    const sent = await postForm(app, `${issuePath}/send`, { _csrf: csrf, confirm: '3' }, { cookie });
    expect(sent.statusCode).toBe(303);
    const after = await database.db
      .selectFrom('issues')
      .select('status')
      .where('id', '=', issue!.id)
      .executeTakeFirstOrThrow();
    expect(after.status).toBe('sending');
    const audit = await editors.auditLog(10);
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['issue.create', 'issue.send']));
    expect(audit.find((a) => a.action === 'issue.send')?.actor).toBe('chief@example.org');
  });

  it('finds subscribers by an address prefix, shows a person, and erases them only when the address is typed', async () => {
    const cookie = await signIn('chief@example.org');
    const search = await app.inject({
      method: 'GET',
      url: '/console/subscribers?q=b%40exa',
      headers: { cookie },
    });
    expect(search.body).toContain('b@example.org');
    expect(search.body).not.toContain('a@example.org</a>');
    const wildcard = await app.inject({
      method: 'GET',
      url: '/console/subscribers?q=%25',
      headers: { cookie },
    });
    expect(wildcard.body).not.toContain('@example.org</a>');
    const id = /href="\/console\/subscribers\/(\d+)"/.exec(search.body)![1];
    const person = await app.inject({
      method: 'GET',
      url: `/console/subscribers/${id}`,
      headers: { cookie },
    });
    expect(person.body).toContain('AI 日报');
    const csrf = csrfOf(person.body);
    expect(
      (await postForm(app, `/console/subscribers/${id}/erase`, { _csrf: csrf, confirm: 'nope' }, { cookie }))
        .statusCode,
    ).toBe(400);
    const erased = await postForm(
      app,
      `/console/subscribers/${id}/erase`,
      { _csrf: csrf, confirm: 'b@example.org' },
      { cookie },
    );
    expect(erased.statusCode).toBe(303);
    const left = await sql<{
      n: number;
    }>`select count(*)::int as n from subscribers where email = 'b@example.org'`.execute(database.db);
    expect(left.rows[0]!.n).toBe(0);
  });

  it('imports an uploaded CSV with the same report as the CLI, line numbers included', async () => {
    const cookie = await signIn('chief@example.org');
    const page = await app.inject({ method: 'GET', url: '/console/subscribers', headers: { cookie } });
    const csrf = csrfOf(page.body);
    const boundary = '----digestmail-test';
    const csv = 'email,name\nnew1@example.org,One\nnot-an-address,Two\nnew2@example.org,Three\n';
    const body =
      `--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrf}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="list"\r\n\r\nai-daily\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="status"\r\n\r\nconfirmed\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n` +
      `--${boundary}--\r\n`;
    const res = await app.inject({
      method: 'POST',
      url: '/console/subscribers/import',
      headers: { cookie, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('2 imported, 0 updated, 0 skipped, 1 invalid');
    expect(res.body).toMatch(/line 3: /);
  });
});
