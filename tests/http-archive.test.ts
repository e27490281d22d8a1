import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { startTestApp, type TestApp } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const DIGEST = `---
title: "Archive test digest"
date: 2025-11-19T09:00:00+00:00
---

A short week.

---

1. [A headline about <b>tags</b>](https://example.org/one)

   One paragraph of commentary.
`;

let db: TestDatabase;
let t: TestApp;
const ids: Record<string, number> = {};

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  t = await startTestApp(db, { PUBLIC_URL: 'https://news.example.org' });
  const lists = new ListsService(db.db);
  const open = await lists.create({ slug: 'open', name: 'Open' });
  const hidden = await lists.create({ slug: 'hidden', name: 'Hidden', isPublic: false });
  const template = await compileIssue(parseDigest(DIGEST, '2025-11-19-archive.md'), {
    config: t.config,
    list: { slug: 'open', name: 'Open' },
  });
  for (const [name, listId, status] of [
    ['sent', open.id, 'sent'],
    ['draft', open.id, 'draft'],
    ['private', hidden.id, 'sent'],
  ] as const) {
    const row = await db.db
      .insertInto('issues')
      .values({
        list_id: listId,
        status,
        subject: 'Archive test digest',
        title: 'Archive test digest',
        digest_source: DIGEST,
        digest_hash: name,
        template: JSON.stringify(template),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    ids[name] = row.id;
  }
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

describe('GET /archive/:id', () => {
  it('shows a sent issue of a public list, with no personal link and no script', async () => {
    const res = await t.app.inject({ url: `/archive/${ids.sent}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('A headline about');
    expect(res.body).not.toContain('<b>tags</b>');
    expect(res.body).not.toMatch(/\/unsubscribe\/|\/preferences\//);
    expect(res.body).toContain('https://news.example.org/subscribe');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('script-src');
    expect(csp).toContain("style-src 'unsafe-inline'");
  });

  it('is a 404 for drafts, private lists, unknown ids and junk', async () => {
    for (const url of [
      `/archive/${ids.draft}`,
      `/archive/${ids.private}`,
      '/archive/99999',
      '/archive/1abc',
      '/archive/-1',
    ]) {
      const res = await t.app.inject({ url });
      expect(res.statusCode, url).toBe(404);
    }
  });
});
