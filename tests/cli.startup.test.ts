import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram, COMMAND_GROUP_NAMES } from '../src/cli/main.ts';
import { BIN, ROOT, runCliInProcess } from './helpers/cli.ts';
import { createPostgresTestDatabase, type TestDatabase } from './helpers/test-db.ts';
import { spawn } from 'node:child_process';

/** The heavy libraries a command should load only when it needs them. */
const HEAVY = /\/node_modules\/(mjml|mjml-core|fastify|@aws-sdk\/[^/]+|@electric-sql\/pglite)\//;

let dir: string;
let db: TestDatabase;
let env: Record<string, string>;
let issueId: string;

/**
 * Runs the built CLI in a real process (what loads at start is a property of the process) under a
 * loader hook that records every module it resolves, and returns the heavy ones it loaded.
 */
function heavyModulesLoadedBy(
  args: string[],
): Promise<{ heavy: string[]; code: number | null; stderr: string }> {
  const record = join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', join(ROOT, 'tests/helpers/module-recorder.mjs'), BIN, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, ...env, MODULE_RECORD: record },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const loaded = readFileSync(record, 'utf8').split('\n');
      const heavy = [...new Set(loaded.filter((m) => HEAVY.test(m)).map((m) => HEAVY.exec(m)![1]!))];
      resolve({ heavy, code, stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dm-startup-'));
  db = await createPostgresTestDatabase(2);
  env = { DATABASE_URL: db.url!, SECRET_KEY: 'startup-test-secret-key-0123456789abcdef', DATA_DIR: dir };
  expect((await runCliInProcess(['list', 'create', 'daily', '--name', 'Daily'], env)).code).toBe(0);
  const created = await runCliInProcess(
    ['issue', 'create', 'examples/digests/2026-11-30-ai-daily.md', '--list', 'daily'],
    env,
  );
  expect(created.code, created.stderr).toBe(0);
  issueId = created.stdout.trim();
});

afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('what a command loads at start', () => {
  it('the recorder sees MJML when a command needs it (issue preview), so the checks below can fail', async () => {
    const run = await heavyModulesLoadedBy([
      'issue',
      'preview',
      'examples/digests/2026-11-30-ai-daily.md',
      '--out',
      join(dir, 'preview'),
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.heavy).toContain('mjml');
  });

  it.each([
    [['--help']],
    [['list', 'ls']],
    [['issue', 'status', '<id>', '--json']],
    [['subscribers', 'add', 'reader@example.org', '--list', 'daily']],
  ])('%j loads no MJML, Fastify, AWS SDK or PGlite', async (args) => {
    const run = await heavyModulesLoadedBy(args.map((a) => (a === '<id>' ? issueId : a)));
    expect(run.code, run.stderr).toBe(0);
    expect(run.heavy).toEqual([]);
  });
});

describe('digestmail --help without loading the command groups', () => {
  it('lists every group with the same summary the group gives itself when loaded', async () => {
    const listed = (await buildProgram(['node', 'digestmail', '--help'])).commands;
    const loaded = (await buildProgram(['node', 'digestmail'], { loadAll: true })).commands;
    expect(listed.map((c) => c.name())).toEqual(COMMAND_GROUP_NAMES);
    expect(listed.map((c) => [c.name(), c.description()])).toEqual(
      loaded.map((c) => [c.name(), c.description()]),
    );
  });

  it('help <group> shows that group’s own commands', async () => {
    const run = await runCliInProcess(['help', 'list']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/create \[options\] <slug>/);
    expect(run.stdout).toMatch(/\bls\b/);
  });
});
