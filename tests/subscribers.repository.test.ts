import { Readable } from 'node:stream';
import { beforeEach, expect, it } from 'vitest';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { importSubscribers } from '../src/subscriptions/subscribers.import.ts';
import { SubscribersRepository } from '../src/subscriptions/subscribers.repository.ts';
import { SubscribersService } from '../src/subscriptions/subscribers.service.ts';
import { describeEachEngine, truncateAll } from './helpers/test-db.ts';

describeEachEngine('lists and subscribers', (current) => {
  let lists: ListsService;
  let subscribers: SubscribersService;
  let repo: SubscribersRepository;

  beforeEach(async () => {
    await truncateAll(current());
    lists = new ListsService(current().db);
    subscribers = new SubscribersService(current().db);
    repo = new SubscribersRepository(current().db);
    await lists.create({
      slug: 'ai-daily',
      name: 'AI 日报',
      language: 'zh-CN',
      topics: ['大模型', '大模型', ' AI芯片 '],
    });
  });

  async function exported(status?: 'pending' | 'confirmed' | 'unsubscribed'): Promise<string> {
    let out = '';
    const sink = new (await import('node:stream')).Writable({
      write(chunk, _enc, done) {
        out += chunk;
        done();
      },
    });
    await subscribers.export('ai-daily', status, sink);
    return out;
  }

  it('a list keeps its settings and a duplicate slug is refused', async () => {
    const list = await lists.require('ai-daily');
    expect(list).toMatchObject({ optIn: 'double', language: 'zh-CN', topics: ['大模型', 'AI芯片'] });
    await expect(lists.create({ slug: 'ai-daily', name: 'again' })).rejects.toMatchObject({
      code: 'lists.slug_taken',
    });
    await expect(lists.require('nope')).rejects.toMatchObject({ code: 'lists.not_found', exitCode: 2 });
  });

  it('the same address in another case is the same subscriber', async () => {
    const first = await subscribers.add({ email: 'Ana@Example.com', listSlug: 'ai-daily', name: 'Ana' });
    const second = await subscribers.add({ email: 'ana@EXAMPLE.COM', listSlug: 'ai-daily' });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.id).toBe(first.id);
    expect(second.name).toBe('Ana');
    expect(await exported()).toMatch(
      /^email,name,status,subscribed_at\nana@example\.com,Ana,confirmed,\d{4}-/,
    );
  });

  it('an import counts new, changed and unchanged rows, and a second run changes nothing', async () => {
    const csv = 'email,name\nana@example.com,Ana\nbo@example.com,Bo\nANA@example.com,Ana Again\n';
    const run = () => importSubscribers(repo, Readable.from([csv]), { listId: 1, status: 'confirmed' });
    expect(await run()).toEqual({ imported: 2, updated: 0, skipped: 1, invalid: 0, rows: 3 });
    expect(await run()).toEqual({ imported: 0, updated: 0, skipped: 3, invalid: 0, rows: 3 });
    const renamed = 'email,name\nbo@example.com,Bo B\n';
    expect(
      await importSubscribers(repo, Readable.from([renamed]), { listId: 1, status: 'confirmed' }),
    ).toMatchObject({
      updated: 1,
    });
    expect(await exported()).toContain('bo@example.com,Bo B,confirmed');
  });

  it('an import moves pending forward to confirmed but never re-subscribes someone who left', async () => {
    await subscribers.add({ email: 'p@example.com', listSlug: 'ai-daily', status: 'pending' });
    await subscribers.add({ email: 'u@example.com', listSlug: 'ai-daily' });
    await current()
      .db.updateTable('subscriptions')
      .set({ status: 'unsubscribed' })
      .where('subscriber_id', '=', (await repo.findByEmail('u@example.com'))!.id)
      .execute();
    const report = await importSubscribers(repo, Readable.from(['email\np@example.com\nu@example.com\n']), {
      listId: 1,
      status: 'confirmed',
    });
    expect(report).toMatchObject({ imported: 0, updated: 1, skipped: 1 });
    expect(await exported('confirmed')).toContain('p@example.com');
    expect(await exported('unsubscribed')).toContain('u@example.com');
  });

  it('suppressed addresses are skipped by import and refused by add', async () => {
    await current()
      .db.insertInto('suppressions')
      .values({ email: 'gone@example.com', reason: 'complaint' })
      .execute();
    const report = await importSubscribers(
      repo,
      Readable.from(['email\ngone@example.com\nok@example.com\n']),
      {
        listId: 1,
        status: 'confirmed',
      },
    );
    expect(report).toMatchObject({ imported: 1, skipped: 1 });
    await expect(subscribers.add({ email: 'Gone@example.com', listSlug: 'ai-daily' })).rejects.toMatchObject({
      code: 'subscribers.suppressed',
    });
  });

  it('removing a person erases their rows and keeps the address suppressed', async () => {
    const person = await subscribers.add({ email: 'erase-me@example.com', listSlug: 'ai-daily', name: 'E' });
    const issue = await current()
      .db.insertInto('issues')
      .values({ list_id: 1, subject: 's', title: 't', digest_source: '', digest_hash: 'h' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await current()
      .db.insertInto('deliveries')
      .values({ issue_id: issue.id, subscriber_id: person.id, email: person.email, status: 'sent' })
      .execute();
    expect(await subscribers.remove('Erase-Me@example.com')).toBe(true);
    const deliveries = await current()
      .db.selectFrom('deliveries')
      .select(['subscriber_id', 'email', 'status'])
      .execute();
    expect(deliveries).toEqual([{ subscriber_id: null, email: null, status: 'sent' }]);
    expect(await repo.findByEmail('erase-me@example.com')).toBeUndefined();
    expect(await repo.unmailableReason('erase-me@example.com')).toBe('erased');
    expect(await exported()).toBe('email,name,status,subscribed_at\n');
    const again = await importSubscribers(repo, Readable.from(['email\nerase-me@example.com\n']), {
      listId: 1,
      status: 'confirmed',
    });
    expect(again).toMatchObject({ imported: 0, skipped: 1 });
  });

  it('lists are shown with their counts', async () => {
    await subscribers.add({ email: 'a@example.com', listSlug: 'ai-daily' });
    await subscribers.add({ email: 'b@example.com', listSlug: 'ai-daily', status: 'pending' });
    const [list] = await lists.all();
    expect(list?.counts).toEqual({ confirmed: 1, pending: 1, unsubscribed: 0 });
  });

  it('export pages through more rows than one page and quotes awkward names', async () => {
    const rows = Array.from({ length: 10_050 }, (_, i) => `u${i}@example.com,"Name, ${i}"`).join('\n');
    await importSubscribers(
      repo,
      Readable.from([`email,name\n${rows}\n=cmd@example.com,"=HYPERLINK(""x"")"\n`]),
      {
        listId: 1,
        status: 'confirmed',
      },
    );
    const out = await exported();
    expect(out.trim().split('\n')).toHaveLength(10_052);
    expect(out).toContain('u10049@example.com,"Name, 10049",confirmed');
    expect(out).toContain(`=cmd@example.com,"'=HYPERLINK(""x"")",confirmed`);
  });
});
