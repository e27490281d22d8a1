import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.loader.ts';
import { DeliveriesRepository } from '../src/delivery/deliveries.repository.ts';
import { IssuesService } from '../src/issues/issues.service.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { createTestDatabase, describeEachEngine, type TestDatabase } from './helpers/test-db.ts';
import { DIGEST, seedAudience, senderEnv } from './sender.helpers.ts';

describeEachEngine('issue lifecycle', (current) => {
  const config = loadConfig(senderEnv('postgres://unused', 'outbox:/tmp/unused'));

  it('enqueues readers whose topics meet the issue’s categories, and readers who chose none', async () => {
    const { db } = current();
    const audience = await seedAudience(db, 4, 'topics');
    const topics: Record<string, string[]> = {
      [audience.confirmed[0]!]: [],
      [audience.confirmed[1]!]: ['email', 'cooking'],
      [audience.confirmed[2]!]: ['cooking'],
      [audience.confirmed[3]!]: ['standards'],
    };
    for (const [email, t] of Object.entries(topics)) {
      await sql`update subscriptions set topics = ${sql.val(t)}::text[]
                 where subscriber_id = (select id from subscribers where email = ${email})`.execute(db);
    }
    const service = new IssuesService(db, config);
    const issue = await service.create({ digestPath: DIGEST, listSlug: 'topics' });
    expect(issue.status).toBe('draft');
    expect(issue.categories).toEqual(['email', 'infrastructure', 'standards']);
    const { enqueued } = await service.send(String(issue.id));
    expect(enqueued).toBe(3);
    const emails = await db
      .selectFrom('deliveries')
      .select('email')
      .where('issue_id', '=', issue.id)
      .execute();
    expect(emails.map((e) => e.email).sort()).toEqual(
      [audience.confirmed[0], audience.confirmed[1], audience.confirmed[3]].sort(),
    );
    // Sending again neither fails nor enqueues twice.
    expect((await service.send(String(issue.id))).enqueued).toBe(0);
    expect((await new DeliveriesRepository(db).counts(issue.id)).total).toBe(3);
  });

  it('refuses to send an issue whose list has no confirmed readers, naming why, and keeps the draft', async () => {
    // On PGlite (one connection) the reason used to be looked up outside the send's transaction,
    // which waited on that transaction for ever.
    const { db } = current();
    await db
      .insertInto('lists')
      .values({ slug: 'nobody', name: 'Nobody', opt_in: 'single', topics: [] })
      .execute();
    const service = new IssuesService(db, config);
    const issue = await service.create({ digestPath: DIGEST, listSlug: 'nobody' });
    await expect(service.send(String(issue.id))).rejects.toMatchObject({
      code: 'issues.no_recipients',
      message: `issue ${issue.id} would reach nobody: list "nobody" has no confirmed subscribers`,
    });
    expect((await service.require(issue.id)).status).toBe('draft');
  });

  it('re-checks suppression and subscription when a delivery is claimed', async () => {
    const { db } = current();
    const audience = await seedAudience(db, 3, 'recheck');
    const service = new IssuesService(db, config);
    const issue = await service.create({ digestPath: DIGEST, listSlug: 'recheck' });
    await service.send(String(issue.id));
    await db
      .insertInto('suppressions')
      .values({ email: audience.confirmed[0]!, reason: 'complaint' })
      .execute();
    await sql`update subscriptions set status = 'unsubscribed'
               where subscriber_id = (select id from subscribers where email = ${audience.confirmed[1]!})`.execute(
      db,
    );
    const claimed = await new DeliveriesRepository(db).claim(issue.id, 'w1', 10, 30);
    expect(claimed.map((c) => c.email)).toEqual([audience.confirmed[2]]);
    const counts = await new DeliveriesRepository(db).counts(issue.id);
    expect(counts).toMatchObject({ total: 3, sending: 1, suppressed: 1, unsubscribed: 1 });
    // Claimed rows are leased: a second worker gets nothing until the lease runs out.
    expect(await new DeliveriesRepository(db).claim(issue.id, 'w2', 10, 30)).toEqual([]);
  });

  it('counts a delivery taken back after a lost lease in resent_after_crash', async () => {
    const { db } = current();
    await seedAudience(db, 2, 'lease');
    const service = new IssuesService(db, config);
    const issue = await service.create({ digestPath: DIGEST, listSlug: 'lease' });
    await service.send(String(issue.id));
    const repo = new DeliveriesRepository(db);
    expect(await repo.claim(issue.id, 'dead-worker', 1, 30)).toHaveLength(1);
    // The worker died; its lease runs out.
    await sql`update deliveries set next_attempt_at = now() - interval '1 second'
               where leased_by = 'dead-worker'`.execute(db);
    const again = await repo.claim(issue.id, 'new-worker', 10, 30);
    expect(again).toHaveLength(2);
    expect(again.filter((d) => d.crashResends === 1)).toHaveLength(1);
    expect((await repo.counts(issue.id)).resent_after_crash).toBe(1);
  });
});

describe('bad input to the issue commands', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    env = senderEnv(db.url!, 'smtp://127.0.0.1:9');
    await seedAudience(db.db, 3);
    dir = mkdtempSync(join(tmpdir(), 'dm-bad-'));
    writeFileSync(join(dir, 'broken.md'), '---\ntitle: [unclosed\n---\nbody\n');
    await runCliInProcess(['list', 'create', 'empty', '--name', 'Empty'], env);
    await runCliInProcess(['list', 'create', 'hushed', '--name', 'Hushed', '--single-opt-in'], env);
    await sql`
      with s as (insert into subscribers (email) values ('quiet@example.net') returning id),
           sub as (insert into subscriptions (subscriber_id, list_id, status)
                   select s.id, l.id, 'confirmed' from s, lists l where l.slug = 'hushed')
      insert into suppressions (email, reason) values ('quiet@example.net', 'hard_bounce')
    `.execute(db.db);
  });
  afterAll(async () => {
    await db?.close();
  });

  /** Exit 2 and exactly one line on stderr, matching `expected`, with no stack trace. */
  async function refused(args: string[], expected: RegExp) {
    const result = await runCliInProcess(args, env);
    expect(result.code, result.stderr).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    return result;
  }

  it('names an unknown or malformed issue id', async () => {
    await Promise.all([
      refused(['issue', 'status', '999'], /no issue with id 999/),
      refused(['issue', 'send', 'abc'], /"abc" is not an issue id/),
      refused(['issue', 'pause', '-1'], /not an issue id|unknown option/),
    ]);
  });

  it('names a digest that does not parse or does not exist, and an unknown list', async () => {
    await Promise.all([
      refused(['issue', 'create', join(dir, 'broken.md'), '--list', 'news'], /broken\.md/),
      refused(['issue', 'create', join(dir, 'missing.md'), '--list', 'news'], /missing\.md/),
      refused(['issue', 'create', DIGEST, '--list', 'nope'], /no list with slug "nope"/),
    ]);
    const count = await db.db
      .selectFrom('issues')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(count.n).toBe(0);
  });

  it('refuses --at in the past or not a date', async () => {
    await Promise.all([
      refused(
        ['issue', 'create', DIGEST, '--list', 'news', '--at', '2020-01-01T00:00:00Z'],
        /--at .* is in the past/,
      ),
      refused(
        ['issue', 'create', DIGEST, '--list', 'news', '--at', 'next tuesday'],
        /--at "next tuesday" is not a date/,
      ),
      refused(['issue', 'create', DIGEST, '--list', 'news', '--at', '2026-13-45T99:00'], /is not a date/),
    ]);
  });

  it('refuses to send to an empty list or one whose readers are all suppressed, and keeps the draft', async () => {
    const empty = await runCliInProcess(['issue', 'create', DIGEST, '--list', 'empty'], env);
    const hushed = await runCliInProcess(['issue', 'create', DIGEST, '--list', 'hushed'], env);
    const [emptyId, hushedId] = [empty.stdout.trim(), hushed.stdout.trim()];
    await Promise.all([
      refused(['issue', 'send', emptyId], /would reach nobody: list "empty" has no confirmed subscribers/),
      refused(['issue', 'send', hushedId], /every confirmed subscriber of list "hushed" is suppressed/),
    ]);
    const rows = await db.db
      .selectFrom('issues')
      .select(['status'])
      .where('id', 'in', [Number(emptyId), Number(hushedId)])
      .execute();
    expect(rows.map((r) => r.status)).toEqual(['draft', 'draft']);
  });

  it('refuses a change the issue’s state does not allow, and a bad test address', async () => {
    const created = await runCliInProcess(['issue', 'create', DIGEST, '--list', 'news'], env);
    const id = created.stdout.trim();
    await Promise.all([
      refused(['issue', 'pause', id], /cannot pause issue \d+: it is draft/),
      refused(['issue', 'resume', id], /cannot resume issue \d+: it is draft/),
      refused(['issue', 'test', id, '--to', 'not-an-address'], /"not-an-address" is not a valid address/),
    ]);
  });
});
