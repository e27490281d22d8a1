import { beforeEach, expect, it } from 'vitest';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { OptinRepository } from '../src/subscriptions/optin.repository.ts';
import { OutboxRepository } from '../src/subscriptions/outbox.repository.ts';
import { ReaderRepository } from '../src/subscriptions/reader.repository.ts';
import { UnsubscribeRepository } from '../src/subscriptions/unsubscribe.repository.ts';
import { describeEachEngine, truncateAll } from './helpers/test-db.ts';

/** The opt-in statements on both engines: names wait for their link (11.2), coming back follows opt-in (11.4). */
describeEachEngine('opt-in, names and coming back', (current) => {
  let double: number;
  let single: number;

  beforeEach(async () => {
    await truncateAll(current());
    const lists = new ListsService(current().db);
    double = (await lists.create({ slug: 'double', name: 'Double' })).id;
    single = (await lists.create({ slug: 'single', name: 'Single', optIn: 'single' })).id;
  });

  const signup = (email: string, name: string | null, listIds: number[]) =>
    new OptinRepository(current().db).signup({
      email,
      name,
      listIds,
      ip: null,
      lang: 'en',
      confirmKey: `confirm:${email}`,
      confirmWindowSeconds: 600,
      limits: [],
    });
  const confirmMails = (email: string) =>
    current()
      .db.selectFrom('outbox')
      .select(['id', 'payload'])
      .where('to_email', '=', email)
      .where('kind', '=', 'confirm')
      .orderBy('id')
      .execute();
  const subscriber = (email: string) =>
    current()
      .db.selectFrom('subscribers')
      .select(['id', 'name'])
      .where('email', '=', email)
      .executeTakeFirstOrThrow();

  it('a signup stores no name; its confirmation link applies it, once it confirms something', async () => {
    await signup('ana@example.com', 'Ana', [double, single]);
    const { id, name } = await subscriber('ana@example.com');
    expect(name).toBeNull();
    const [mail] = await confirmMails('ana@example.com');
    expect(mail!.payload).toEqual({ lists: [double], lang: 'en', name: 'Ana' });
    const optin = new OptinRepository(current().db);
    expect(await optin.confirm(id, [double], 'en', mail!.id)).toEqual({
      found: true,
      confirmed: [double],
      renamed: true,
    });
    expect((await subscriber('ana@example.com')).name).toBe('Ana');
    await current().db.updateTable('subscribers').set({ name: 'Ann' }).where('id', '=', id).execute();
    // pressed again, the link confirms nothing and leaves the name the reader chose since
    expect(await optin.confirm(id, [double], 'en', mail!.id)).toEqual({
      found: true,
      confirmed: [],
      renamed: false,
    });
    expect((await subscriber('ana@example.com')).name).toBe('Ann');
  });

  it('"subscribe again": double opt-in waits for one confirmation mail per window, single opt-in is immediate', async () => {
    await signup('ben@example.com', null, [double, single]);
    const { id } = await subscriber('ben@example.com');
    await new OptinRepository(current().db).confirm(id, [double], 'en');
    await current().db.deleteFrom('outbox').execute();

    const leaving = new UnsubscribeRepository(current().db);
    expect(await leaving.leave(id, undefined, 'en')).toEqual([double, single].sort((a, b) => a - b));
    const readers = new ReaderRepository(current().db);
    expect(await readers.resubscribe(id, [double, single], 'zh-CN', 600)).toEqual({
      confirmed: [single],
      pending: [double],
      confirmQueued: true,
    });
    expect((await confirmMails('ben@example.com')).map((m) => m.payload)).toEqual([
      { lists: [double], lang: 'zh-CN', via: 'come_back' },
    ]);
    // a second round within the window: one goodbye a day, one come-back confirmation per window
    expect(await leaving.leave(id, double, 'en')).toEqual([double]);
    expect(await readers.resubscribe(id, [double], 'en', 600)).toEqual({
      confirmed: [],
      pending: [double],
      confirmQueued: false,
    });
    const kinds = await current().db.selectFrom('outbox').select('kind').orderBy('id').execute();
    expect(kinds.map((k) => k.kind)).toEqual(['goodbye', 'confirm']);
    expect(await readers.subscriptionStatus(id, double)).toBe('pending');
    expect(await readers.subscriptionStatus(id, single)).toBe('confirmed');
  });

  it('many one-click unsubscribes in one statement: each pair answered in order, a repeated pair left once, the counts exact', async () => {
    for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) {
      await signup(email, null, [single]);
    }
    const ids = await Promise.all(['a@example.com', 'b@example.com', 'c@example.com'].map(subscriber));
    const [a, b, c] = ids.map((r) => r.id) as [number, number, number];
    const readers = new ReaderRepository(current().db);
    expect(await readers.unsubscribe(c, single)).toBe(true);
    expect(
      await readers.unsubscribeMany([
        { subscriberId: b, listId: single },
        { subscriberId: a, listId: single },
        { subscriberId: b, listId: single },
        { subscriberId: c, listId: single },
        { subscriberId: a, listId: double },
      ]),
    ).toEqual([true, true, false, false, false]);
    for (const id of [a, b, c]) expect(await readers.subscriptionStatus(id, single)).toBe('unsubscribed');
    const lists = await new ListsService(current().db).all();
    expect(lists.find((l) => l.id === single)!.counts).toEqual({ pending: 0, confirmed: 0, unsubscribed: 3 });
  });

  it('many signups in one call are judged in order, as one after the other: counters, throttle and suppressions included', async () => {
    await current()
      .db.insertInto('suppressions')
      .values({ email: 'gone@example.com', reason: 'hard_bounce' })
      .execute();
    const input = (email: string, name: string | null, listIds: number[]) => ({
      email,
      name,
      listIds,
      ip: '192.0.2.7',
      lang: 'en',
      confirmKey: `confirm:${email}`,
      confirmWindowSeconds: 600,
      // Three signups a window from this address's IP.
      limits: [{ key: 'ip:192.0.2.7', windowSeconds: 600, max: 3 }],
    });
    const outcomes = await new OptinRepository(current().db).signupMany([
      input('dee@example.com', 'Dee', [double]),
      input('dee@example.com', 'Dee', [double]),
      input('gone@example.com', null, [double]),
      input('eve@example.com', null, [single]),
    ]);
    const dee = outcomes[0]!.subscriberId;
    const none = { subscriberId: undefined, confirmMailId: undefined };
    expect(outcomes).toEqual([
      {
        limited: false,
        accepted: true,
        confirmQueued: [double],
        confirmThrottled: false,
        joined: [],
        subscriberId: expect.any(Number),
        confirmMailId: expect.any(Number),
      },
      {
        limited: false,
        accepted: true,
        confirmQueued: [],
        confirmThrottled: true,
        joined: [],
        subscriberId: dee,
        confirmMailId: undefined,
      },
      { limited: false, accepted: false, confirmQueued: [], confirmThrottled: false, joined: [], ...none },
      { limited: true, accepted: false, confirmQueued: [], confirmThrottled: false, joined: [], ...none },
    ]);
    const mails = await confirmMails('dee@example.com');
    expect(mails.map((m) => m.payload)).toEqual([{ lists: [double], lang: 'en', name: 'Dee' }]);
    expect(mails.map((m) => m.id)).toEqual([outcomes[0]!.confirmMailId]);
    const eve = await current()
      .db.selectFrom('subscribers')
      .select('id')
      .where('email', '=', 'eve@example.com')
      .execute();
    expect(eve).toEqual([]);
  });

  it('a signup that takes a lease writes its confirmation mail leased to the caller: no claim takes it until the lease runs out', async () => {
    const optin = new OptinRepository(current().db);
    const signup = (email: string, leaseSeconds?: number) =>
      optin.signupMany([
        {
          email,
          name: null,
          listIds: [double, single],
          ip: null,
          lang: 'en',
          confirmKey: `confirm:${email}`,
          confirmWindowSeconds: 600,
          limits: [],
          leaseSeconds,
        },
      ]);
    const [leased] = await signup('lea@example.com', 30);
    const [queued] = await signup('que@example.com');
    const rows = await current()
      .db.selectFrom('outbox')
      .select(['id', 'to_email', 'kind', 'status', 'attempts'])
      .select((eb) =>
        eb.fn<boolean>('coalesce', [eb('lease_until', '>', new Date()), eb.lit(false)]).as('leased'),
      )
      .orderBy('id')
      .execute();
    // The welcome mail of the single opt-in list is never leased: its sender reads the reader back.
    expect(rows).toEqual([
      {
        id: leased!.confirmMailId,
        to_email: 'lea@example.com',
        kind: 'confirm',
        status: 'sending',
        attempts: 1,
        leased: true,
      },
      {
        id: expect.any(Number),
        to_email: 'lea@example.com',
        kind: 'welcome',
        status: 'pending',
        attempts: 0,
        leased: false,
      },
      {
        id: queued!.confirmMailId,
        to_email: 'que@example.com',
        kind: 'confirm',
        status: 'pending',
        attempts: 0,
        leased: false,
      },
      {
        id: expect.any(Number),
        to_email: 'que@example.com',
        kind: 'welcome',
        status: 'pending',
        attempts: 0,
        leased: false,
      },
    ]);
    const outbox = new OutboxRepository(current().db);
    expect((await outbox.claim(10, 30)).map((m) => m.toEmail).sort()).toEqual([
      'lea@example.com',
      'que@example.com',
      'que@example.com',
    ]);
    // The process it was leased to died: once the lease has run out, a claim takes it, second attempt.
    await current()
      .db.updateTable('outbox')
      .set({ lease_until: new Date(Date.now() - 1000) })
      .where('id', '=', leased!.confirmMailId!)
      .execute();
    expect((await outbox.claim(10, 30)).map((m) => [m.id, m.attempts])).toEqual([[leased!.confirmMailId, 2]]);
  });
});
