import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { signConfirm, signUnsubscribe } from '../src/core/reader-tokens.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { openForm, postForm, startTestApp, type TestApp, testConfig } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  await new ListsService(db.db).create({ slug: 'news', name: 'News' });
  t = await startTestApp(db);
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

describe('http app', () => {
  it('GET /healthz answers ok when the database does', async () => {
    const res = await t.app.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('sends security headers: a CSP without scripts, no framing, no referrer', async () => {
    const res = await t.app.inject({ url: '/' });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("form-action 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('script-src');
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toBe('no-store');
    // the CSRF cookie cannot be read by scripts
    expect(String(res.headers['set-cookie'])).toMatch(/HttpOnly/i);
    expect(String(res.headers['set-cookie'])).toMatch(/SameSite=Lax/i);
  });

  it('sends HSTS and upgrades requests only when served over https', async () => {
    expect((await t.app.inject({ url: '/' })).headers['strict-transport-security']).toBeUndefined();
    const https = await buildApp({
      config: testConfig({ PUBLIC_URL: 'https://news.example.org' }),
      db: db.db,
    });
    const res = await https.inject({ url: '/' });
    await https.close();
    expect(res.headers['strict-transport-security']).toMatch(/max-age=31536000/);
    expect(String(res.headers['content-security-policy'])).toContain('upgrade-insecure-requests');
    expect(String(res.headers['set-cookie'])).toMatch(/Secure/);
  });

  it('refuses a 1 MB form body with 413 and a page', async () => {
    const form = await openForm(t.app, '/');
    const res = await t.app.inject({
      method: 'POST',
      url: '/subscribe',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.cookie },
      payload: `_csrf=${form.csrf}&email=a%40example.com&name=${'x'.repeat(1024 * 1024)}`,
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(await db.db.selectFrom('subscribers').selectAll().execute()).toEqual([]);
  });

  it('answers an unknown path with a 404 page and never redirects anywhere', async () => {
    const res = await t.app.inject({ url: '/nowhere?next=https://evil.example' });
    expect(res.statusCode).toBe(404);
    expect(res.body).toContain('Page not found');
    for (const url of [
      '/',
      '/subscribe?next=https://evil.example',
      '//evil.example/',
      '/subscribe?redirect=//evil.example',
    ]) {
      const r = await t.app.inject({ url });
      expect(r.headers.location, url).toBeUndefined();
    }
  });

  it('escapes the language switch and path on every page', async () => {
    const res = await t.app.inject({ url: '/nowhere"><script>alert(1)</script>' });
    expect(res.body).not.toContain('<script>alert(1)');
    // a path that a browser would read as another site never comes back as a link
    for (const url of ['//evil.example/x', '/\\evil.example/x']) {
      const page = await t.app.inject({ url });
      expect(page.body, url).not.toMatch(/href="(\/\/|\/\\)/);
    }
  });

  it('lets a route registered by another module take a text/plain body up to its own limit (SNS posts JSON as text/plain)', async () => {
    const app = await buildApp({ config: testConfig(), db: db.db });
    app.post('/test-webhook', { bodyLimit: 256 * 1024 }, async (request) => ({
      length: (request.body as string).length,
    }));
    const body = JSON.stringify({ Message: 'x'.repeat(200 * 1024) });
    const ok = await app.inject({
      method: 'POST',
      url: '/test-webhook',
      headers: { 'content-type': 'text/plain; charset=UTF-8' },
      payload: body,
    });
    const tooBig = await app.inject({
      method: 'POST',
      url: '/test-webhook',
      headers: { 'content-type': 'text/plain' },
      payload: 'x'.repeat(300 * 1024),
    });
    await app.close();
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ length: body.length });
    expect(tooBig.statusCode).toBe(413);
  });

  it('logs requests with ids but without email addresses, client addresses or link tokens', async () => {
    const lines: string[] = [];
    const config = testConfig({ LOG_LEVEL: 'info' });
    const signer = new TokenSigner(config.SECRET_KEY);
    const app = await buildApp({
      config,
      db: db.db,
      signer,
      logStream: { write: (line) => lines.push(line) },
    });
    const form = await openForm(app, '/');
    await postForm(
      app,
      '/subscribe',
      { _csrf: form.csrf, email: 'secret.reader@example.com', name: 'Secret Name' },
      { cookie: form.cookie },
    );
    const sub = await db.db
      .selectFrom('subscribers')
      .select('id')
      .where('email', '=', 'secret.reader@example.com')
      .executeTakeFirstOrThrow();
    const list = await db.db.selectFrom('lists').select('id').executeTakeFirstOrThrow();
    const unsub = signUnsubscribe(signer, sub.id, list.id);
    const confirm = signConfirm(signer, sub.id, [list.id]);
    await postForm(app, `/unsubscribe/${unsub}`, { 'List-Unsubscribe': 'One-Click' });
    await app.inject({ url: `/confirm/${confirm}` });
    await app.close();
    const log = lines.join('');
    expect(lines.length).toBeGreaterThan(4);
    expect(log).toContain('"reqId"');
    expect(log).toContain('/unsubscribe/:token');
    expect(log).not.toContain('secret.reader');
    expect(log).not.toContain('Secret Name');
    expect(log).not.toContain('127.0.0.1');
    expect(log).not.toContain(unsub);
    expect(log).not.toContain(confirm.split('.')[0]!);
  });

  it.each(['/subscribe', '/unsubscribe/x.y', '/webhooks/ses'])(
    'a multipart body the parser cannot read is a 400 at %s, not a server error',
    async (url) => {
      for (const [contentType, payload] of [
        ['multipart/form-data', 'garbage'],
        ['multipart/form-data; boundary=zz', 'garbage'],
        ['multipart/form-data; boundary=zz', '--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\nx'],
      ] as const) {
        const res = await t.app.inject({
          method: 'POST',
          url,
          headers: { 'content-type': contentType },
          payload,
        });
        expect(res.statusCode, `${contentType} ${JSON.stringify(payload)}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
      }
    },
  );

  it('an id too large for the database is a 404, not a server error', async () => {
    expect((await t.app.inject({ url: '/archive/9999999999' })).statusCode).toBe(404);
    expect((await t.app.inject({ url: '/archive/2147483648' })).statusCode).toBe(404);
  });
});
