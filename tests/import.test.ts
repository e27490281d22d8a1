import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { SubscribersService } from '../src/subscriptions/subscribers.service.ts';
import { runCli, runCliInProcess } from './helpers/cli.ts';
import { freePort } from './helpers/serve.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const dir = mkdtempSync(join(tmpdir(), 'digestmail-import-'));
let counter = 0;
function csvFile(content: string | Buffer): string {
  const path = join(dir, `import-${counter++}.csv`);
  writeFileSync(path, content);
  return path;
}

describe('subscribers import (CLI, real PostgreSQL)', () => {
  let test: TestDatabase;
  let env: Record<string, string>;
  let listCounter = 0;

  beforeAll(async () => {
    test = await createTestDatabase('postgres');
    env = { DATABASE_URL: test.url!, DATA_DIR: dir };
  });
  afterAll(() => test.close());

  async function freshList(): Promise<string> {
    const slug = `list-${listCounter++}`;
    await new ListsService(test.db).create({ slug, name: slug });
    return slug;
  }

  async function emails(slug: string): Promise<string[]> {
    const rows = await test.db
      .selectFrom('subscriptions as sn')
      .innerJoin('subscribers as s', 's.id', 'sn.subscriber_id')
      .innerJoin('lists as l', 'l.id', 'sn.list_id')
      .select('s.email')
      .where('l.slug', '=', slug)
      .orderBy('s.email')
      .execute();
    return rows.map((r) => r.email);
  }

  it('a file with a BOM, CRLF line ends, quoted commas and empty lines imports every row', async () => {
    const slug = await freshList();
    const file = csvFile(
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(
          'Email,Name,Company\r\nana@example.com,"Silva, Ana","ACME, Inc."\r\n\r\nbo@example.com,Bo,\r\n\r\n',
        ),
      ]),
    );
    const result = await runCliInProcess(['subscribers', 'import', file, '--list', slug], env);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/imported 2, updated 0, skipped 0, invalid 0/);
    expect(result.code).toBe(0);
    expect(await emails(slug)).toEqual(['ana@example.com', 'bo@example.com']);
    const ana = await test.db
      .selectFrom('subscribers')
      .select('name')
      .where('email', '=', 'ana@example.com')
      .executeTakeFirst();
    expect(ana?.name).toBe('Silva, Ana');
  });

  it('each invalid row is reported with its line and reason, and every valid row around it is kept', async () => {
    const slug = await freshList();
    const lines = [
      'email,name',
      'good1@example.com,One', // line 2
      'no-at-sign,Bad', // 3
      'has space@example.com,Bad', // 4
      '"cr\r\nlf@example.com",Bad', // 5-6
      'a@b,Bad', // 7
      'trailing@example.com.,Bad', // 8
      'GOOD1@EXAMPLE.COM,Same Person', // 9
      'idn@Bücher.de,IDN', // 10
      `toolong@example.com,${'x'.repeat(1024 * 1024)}`, // 11
      'good2@example.com,Two', // 12
      ',empty', // 13
    ];
    const file = csvFile(`${lines.join('\n')}\n`);
    const result = await runCliInProcess(['subscribers', 'import', file, '--list', slug], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/imported 3, updated 0, skipped 1, invalid 7 \(11 rows\)/);
    const problems = result.stderr.trim().split('\n');
    expect(problems).toEqual([
      'line 3: address has no @ ("no-at-sign")',
      'line 4: address contains spaces or control characters ("has space@example.com")',
      'line 6: address contains spaces or control characters ("cr\\nlf@example.com")',
      'line 7: domain has no dot (like a@b) ("a@b")',
      'line 8: domain ends with a dot ("trailing@example.com.")',
      'line 11: row is longer than 65536 characters',
      'line 13: empty address',
    ]);
    expect(await emails(slug)).toEqual(['good1@example.com', 'good2@example.com', 'idn@xn--bcher-kva.de']);
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('a file without an email column is refused with the columns it has', async () => {
    const slug = await freshList();
    const result = await runCliInProcess(
      ['subscribers', 'import', csvFile('name,mail\nAna,ana@example.com\n'), '--list', slug],
      env,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('digestmail: the header row has no "email" column (found: name, mail)\n');
  });

  it('an unknown list and a missing file are named in one line, exit 2', async () => {
    const unknown = await runCliInProcess(
      ['subscribers', 'import', csvFile('email\na@example.com\n'), '--list', 'nope'],
      env,
    );
    expect(unknown).toMatchObject({
      code: 2,
      stderr: 'digestmail: no list with slug "nope" (see: digestmail list ls)\n',
    });
    const slug = await freshList();
    const missing = await runCliInProcess(
      ['subscribers', 'import', join(dir, 'missing.csv'), '--list', slug],
      env,
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`digestmail: no such file: ${join(dir, 'missing.csv')}\n`);
  });

  it('a file larger than one batch streams through in batches', async () => {
    const slug = await freshList();
    const rows = Array.from({ length: 12_345 }, (_, i) => `bulk${i}@example.org,Reader ${i}`).join('\n');
    const service = new SubscribersService(test.db);
    const progress: number[] = [];
    const report = await service.import(csvFile(`email,name\n${rows}\n`), slug, 'pending', {
      batchSize: 1000,
      onProgress: (r) => progress.push(r.imported),
    });
    expect(report).toEqual({ imported: 12_345, updated: 0, skipped: 0, invalid: 0, rows: 12_345 });
    expect(progress.length).toBe(13);
    const pending = await test.db
      .selectFrom('subscriptions as sn')
      .innerJoin('lists as l', 'l.id', 'sn.list_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('l.slug', '=', slug)
      .where('sn.status', '=', 'pending')
      .executeTakeFirstOrThrow();
    expect(pending.n).toBe(12_345);
  });
});

describe('the CLI on bad input', () => {
  it('a bad setting stops the command with the variable named', async () => {
    const result = await runCliInProcess(['list', 'ls'], { SEND_CONCURRENCY: 'lots', DATA_DIR: dir });
    expect(result).toMatchObject({
      code: 2,
      stderr: 'digestmail: invalid setting SEND_CONCURRENCY: expected a whole number (got "lots")\n',
    });
  });

  it('an unreachable database is one line, exit 1, no stack', async () => {
    const closed = await freePort();
    const result = await runCliInProcess(['list', 'ls'], {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/none`,
      DATA_DIR: dir,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^digestmail: cannot reach the database: .*ECONNREFUSED.*\(check DATABASE_URL\)\n$/,
    );
  });

  it('serve on a port that is taken says so in one line, exit 2', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    // A migrated PostgreSQL database, so the process gets to listening at once (the embedded one
    // would first migrate itself, which on a busy machine takes most of the test's time).
    const database = await createTestDatabase('postgres');
    try {
      const result = await runCli(['serve'], {
        DATABASE_URL: database.url!,
        DATA_DIR: dir,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `digestmail: cannot listen on 127.0.0.1:${port}: something else is listening there (set PORT or HOST)\n`,
      );
    } finally {
      taken.close();
      await database.close();
    }
  });

  it('every command has --help', async () => {
    for (const args of [
      ['--help'],
      ['list', 'create', '--help'],
      ['subscribers', 'import', '--help'],
      ['migrate', '--help'],
    ]) {
      const result = await runCliInProcess(args, { DATA_DIR: dir });
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: digestmail/);
    }
  });
});
