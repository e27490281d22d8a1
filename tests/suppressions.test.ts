import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedIssue } from './bounces.seed.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

let database: TestDatabase;
const env = () => ({ DATABASE_URL: database.url, SECRET_KEY: 'suppressions-test-secret-0123456789abcdef' });

beforeAll(async () => {
  database = await createTestDatabase('postgres');
});
afterAll(async () => {
  await database?.close();
});

describe('digestmail suppressions', () => {
  it('add, ls and remove, case-insensitively', async () => {
    const added = await runCliInProcess(
      ['suppressions', 'add', 'Ana@Example.ORG', '--reason', 'manual', '--note', 'asked by phone'],
      env(),
    );
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout.trim()).toBe('suppressed ana@example.org (manual)');

    const again = await runCliInProcess(['suppressions', 'add', 'ANA@example.org'], env());
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('ana@example.org was already suppressed (manual)');

    const ls = await runCliInProcess(['suppressions', 'ls', '--json'], env());
    expect(ls.code).toBe(0);
    const rows = JSON.parse(ls.stdout) as { email: string; reason: string; note: string }[];
    expect(rows.filter((r) => r.email === 'ana@example.org')).toEqual([
      expect.objectContaining({ email: 'ana@example.org', reason: 'manual', note: 'asked by phone' }),
    ]);
    const table = await runCliInProcess(['suppressions', 'ls'], env());
    expect(table.stdout).toMatch(/^email\s+reason\s+since\s+note/);
    expect(table.stdout).toMatch(/ana@example\.org\s+manual/);

    const removed = await runCliInProcess(['suppressions', 'remove', 'ANA@EXAMPLE.ORG'], env());
    expect(removed.code).toBe(0);
    expect(removed.stdout.trim()).toBe('removed ana@example.org from the suppression list (was manual)');
    const after = JSON.parse((await runCliInProcess(['suppressions', 'ls', '--json'], env())).stdout) as {
      email: string;
    }[];
    expect(after.map((r) => r.email)).not.toContain('ana@example.org');
  });

  it('a suppressed address cannot be added to a list; removing the suppression does not re-subscribe anyone', async () => {
    const { deliveries } = await seedIssue(database.db, ['bo@example.org'], { lists: ['supp-list'] });
    await database.db
      .updateTable('subscriptions')
      .set({ status: 'unsubscribed' })
      .where('subscriber_id', '=', deliveries[0]!.subscriberId)
      .execute();
    expect(
      (await runCliInProcess(['suppressions', 'add', 'bo@example.org', '--reason', 'complaint'], env())).code,
    ).toBe(0);
    const refused = await runCliInProcess(
      ['subscribers', 'add', 'bo@example.org', '--list', 'supp-list'],
      env(),
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is on the suppression list (complaint)');
    expect((await runCliInProcess(['suppressions', 'remove', 'bo@example.org'], env())).code).toBe(0);
    const sub = await database.db
      .selectFrom('subscriptions')
      .select('status')
      .where('subscriber_id', '=', deliveries[0]!.subscriberId)
      .executeTakeFirstOrThrow();
    expect(sub.status).toBe('unsubscribed');
  });

  it('bad input: an invalid address, an unknown reason, removing what is not there: one line, exit 2', async () => {
    const bad = await runCliInProcess(['suppressions', 'add', 'not-an-address'], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('digestmail: "not-an-address" is not a valid address: address has no @');
    const reason = await runCliInProcess(
      ['suppressions', 'add', 'x@example.org', '--reason', 'because'],
      env(),
    );
    expect(reason.code).toBe(2);
    expect(reason.stderr.trim()).toBe(
      'digestmail: reason "because" is not one of hard_bounce, soft_bounce_limit, complaint, erased, manual, unsubscribed',
    );
    const missing = await runCliInProcess(['suppressions', 'remove', 'nobody@example.org'], env());
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe('digestmail: nobody@example.org is not on the suppression list');
    const rows = JSON.parse((await runCliInProcess(['suppressions', 'ls', '--json'], env())).stdout) as {
      email: string;
    }[];
    expect(rows.map((r) => r.email)).not.toContain('x@example.org');
  });
});

describe('digestmail suppressions ls on hostile text', () => {
  it('prints no escape sequence or control character that came from a bounce', async () => {
    // What a bounce can put there: the diagnostic of a DSN becomes the suppression's note.
    await database.db
      .insertInto('suppressions')
      .values({
        email: 'hostile@example.org',
        reason: 'hard_bounce',
        note: '550 5.1.1 \u001b]0;owned\u0007\u001b[2J\u001b[3Jgone\u009b1m',
      })
      .execute();
    const table = await runCliInProcess(['suppressions', 'ls'], env());
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/hostile@example\.org\s+hard_bounce/);
    expect(table.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(table.stdout).toContain('550 5.1.1 \uFFFD]0;owned\uFFFD\uFFFD[2J\uFFFD[3Jgone\uFFFD1m');
  });
});
