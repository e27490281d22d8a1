import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { SubscribersService } from '../src/subscriptions/subscribers.service.ts';
import { describeEachEngine } from './helpers/test-db.ts';

describeEachEngine('subscription counts kept by triggers', (db) => {
  it('equal counting the subscriptions after adds, an import, status changes, an erasure and compaction', async () => {
    const lists = new ListsService(db().db);
    const subscribers = new SubscribersService(db().db);
    await lists.create({ slug: 'a', name: 'A' });
    await lists.create({ slug: 'b', name: 'B' });
    for (let i = 0; i < 5; i++)
      await subscribers.add({ email: `p${i}@example.org`, listSlug: 'a', status: 'pending' });
    const csv = `email\n${Array.from({ length: 40 }, (_, i) => `r${i}@example.org`).join('\n')}\n`;
    await subscribers.importStream(Readable.from([csv]), 'b', 'confirmed', { batchSize: 7 });
    await subscribers.add({ email: 'r1@example.org', listSlug: 'a' });
    await sql`update subscriptions set status = 'unsubscribed' where subscriber_id in (select id from subscribers where email like 'r1%')`.execute(
      db().db,
    );
    await sql`update subscriptions set status = 'confirmed' where status = 'pending' and subscriber_id in (select id from subscribers where email = 'p0@example.org')`.execute(
      db().db,
    );
    await subscribers.remove('r2@example.org');

    const expected = async () => {
      const rows = await sql<{ slug: string; status: string; n: number }>`
        select l.slug, s.status, count(*)::int as n from subscriptions s join lists l on l.id = s.list_id group by l.slug, s.status
      `.execute(db().db);
      const out: Record<string, Record<string, number>> = { a: {}, b: {} };
      for (const r of rows.rows) out[r.slug]![r.status] = r.n;
      return out;
    };
    const counted = async () => {
      const out: Record<string, Record<string, number>> = {};
      for (const l of await lists.all()) {
        out[l.slug] = Object.fromEntries(Object.entries(l.counts).filter(([, n]) => n > 0));
      }
      return out;
    };
    expect(await counted()).toEqual(await expected());
    await sql`select digestmail_compact_subscription_counts()`.execute(db().db);
    expect(await counted()).toEqual(await expected());
    const rows = await sql<{ n: number }>`select count(*)::int as n from subscription_counts`.execute(
      db().db,
    );
    expect(rows.rows[0]!.n).toBeLessThanOrEqual(6);
  });
});
