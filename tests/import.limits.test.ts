import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const dir = mkdtempSync(join(tmpdir(), 'digestmail-import-limits-'));

describe('subscribers import: rows over the line limit', () => {
  let test: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    test = await createTestDatabase('postgres');
    env = { DATABASE_URL: test.url!, DATA_DIR: dir };
    await new ListsService(test.db).create({ slug: 'limits', name: 'Limits' });
  });
  afterAll(() => test.close());

  it('each over-long row is reported once, with its line, and the valid rows after it are imported', async () => {
    const lines = [
      'email,name',
      'good1@example.com,One', // line 2
      `huge@example.com,${'x'.repeat(17 * 1024 * 1024)}`, // 3: past every parser buffer
      'good2@example.com,Two', // 4
      `"quoted@example.com","${'y'.repeat(40_000)}\n${'y'.repeat(40_000)}\n"`, // 5-7: over the limit, line breaks inside
      'good3@example.com,Three', // 8
      `long@example.com,${'z'.repeat(70_000)}`, // 9: just over 64 KiB
      'bad-address,Four', // 10
      'good4@example.com,Four', // 11
    ];
    const file = join(dir, 'limits.csv');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const result = await runCliInProcess(['subscribers', 'import', file, '--list', 'limits'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([
      'line 3: row is longer than 65536 characters',
      'line 5: row is longer than 65536 characters',
      'line 9: row is longer than 65536 characters',
      'line 10: address has no @ ("bad-address")',
    ]);
    expect(result.stdout).toMatch(/imported 4, updated 0, skipped 0, invalid 4 \(8 rows\)/);
    const emails = await test.db.selectFrom('subscribers').select('email').orderBy('email').execute();
    expect(emails.map((r) => r.email)).toEqual([
      'good1@example.com',
      'good2@example.com',
      'good3@example.com',
      'good4@example.com',
    ]);
  });
});
