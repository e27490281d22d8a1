import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EditorsService } from '../src/editors/editors.service.ts';
import { runCliInProcess as runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

let database: TestDatabase;
const PUBLIC_URL = 'https://news.example.org';
const env = () => ({
  DATABASE_URL: database.url,
  SECRET_KEY: 'editors-test-secret-0123456789abcdef012345',
  PUBLIC_URL,
});
const idle = { idleSeconds: 12 * 3600 };

beforeAll(async () => {
  database = await createTestDatabase('postgres');
});
afterAll(async () => {
  await database?.close();
});

function tokenOf(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

describe('digestmail editors', () => {
  it('add, ls, link and remove; every change is in the audit log', async () => {
    const added = await runCli(
      ['editors', 'add', 'Chief@Example.ORG', '--name', 'Chief', '--role', 'admin'],
      env(),
    );
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('added chief@example.org (admin)');

    const ls = JSON.parse((await runCli(['editors', 'ls', '--json'], env())).stdout) as {
      email: string;
      role: string;
    }[];
    expect(ls).toEqual([
      expect.objectContaining({ email: 'chief@example.org', role: 'admin', name: 'Chief' }),
    ]);

    const link = await runCli(['editors', 'link', 'chief@example.org'], env());
    expect(link.code).toBe(0);
    // Alone on stdout: one line, the URL.
    expect(link.stdout).toMatch(/^https:\/\/news\.example\.org\/console\/login\/[A-Za-z0-9_-]{43}\n$/);

    const removed = await runCli(['editors', 'remove', 'CHIEF@example.org'], env());
    expect(removed.code).toBe(0);

    const audit = JSON.parse((await runCli(['audit', 'ls', '--json'], env())).stdout) as {
      action: string;
      objectId: string;
      actor: string;
    }[];
    expect(audit.map((a) => a.action)).toEqual(['editor.remove', 'editor.link', 'editor.add']);
    expect(audit.every((a) => a.objectId === 'chief@example.org' && a.actor.startsWith('cli:'))).toBe(true);
  });

  it('mistakes end in one line and exit 2: a bad address, a bad role, an unknown editor, a second add', async () => {
    const bad = await runCli(['editors', 'add', 'not-an-address'], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/not an email address/);
    expect((await runCli(['editors', 'add', 'x@example.org', '--role', 'owner'], env())).stderr).toMatch(
      /unknown role/,
    );
    const unknown = await runCli(['editors', 'link', 'nobody@example.org'], env());
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/nobody@example\.org is not an editor/);
    expect((await runCli(['editors', 'add', 'dup@example.org'], env())).code).toBe(0);
    const dup = await runCli(['editors', 'add', 'DUP@example.org'], env());
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/already an editor/);
  });
});

describe('sign-in links and sessions', () => {
  it('a link signs in once; it is not usable after that, nor after 15 minutes', async () => {
    const service = new EditorsService(database.db);
    await service.add({ email: 'once@example.org' }, { cli: 'test' });
    const link = await service.signInLinkFor('once@example.org', PUBLIC_URL, { cli: 'test' });
    const token = tokenOf(link);
    expect(await service.signInLinkUsable(token)).toBe(true);
    const first = await service.signIn(token);
    expect(first?.editor.email).toBe('once@example.org');
    expect(await service.signInLinkUsable(token)).toBe(false);
    expect(await service.signIn(token)).toBeUndefined();

    const late = tokenOf(await service.signInLinkFor('once@example.org', PUBLIC_URL, { cli: 'test' }));
    await sql`update editor_sign_in_links set expires_at = now() - interval '1 second' where used_at is null`.execute(
      database.db,
    );
    expect(await service.signIn(late)).toBeUndefined();
    expect(await service.signIn('x'.repeat(43))).toBeUndefined();
    expect(await service.signIn('../../etc')).toBeUndefined();
  });

  it('an unknown address gets no link, and nothing tells it apart from a known one but the mail', async () => {
    const service = new EditorsService(database.db);
    expect(await service.signInLink('stranger@example.org', PUBLIC_URL)).toBeUndefined();
    expect(await service.signInLink('not an address', PUBLIC_URL)).toBeUndefined();
  });

  it('a session ends when idle too long, at its absolute limit, on sign-out, and when its editor is removed', async () => {
    const service = new EditorsService(database.db);
    await service.add({ email: 'session@example.org', role: 'admin' }, { cli: 'test' });
    const signIn = async () =>
      (await service.signIn(
        tokenOf(await service.signInLinkFor('session@example.org', PUBLIC_URL, { cli: 'test' })),
      ))!.sessionId;

    const a = await signIn();
    expect((await service.session(a, idle))?.email).toBe('session@example.org');
    await sql`update editor_sessions set last_seen_at = now() - interval '13 hours'`.execute(database.db);
    expect(await service.session(a, idle)).toBeUndefined();

    const b = await signIn();
    await sql`update editor_sessions set expires_at = now() - interval '1 second'`.execute(database.db);
    expect(await service.session(b, idle)).toBeUndefined();

    const c = await signIn();
    expect(await service.session(c, idle)).toBeDefined();
    await service.signOut(c);
    expect(await service.session(c, idle)).toBeUndefined();

    const d = await signIn();
    expect(await service.session(d, idle)).toBeDefined();
    await service.remove('session@example.org', { cli: 'test' });
    expect(await service.session(d, idle)).toBeUndefined();
    expect(await service.session(undefined, idle)).toBeUndefined();
    expect(await service.session('garbage', idle)).toBeUndefined();
  });
});

describe('digestmail list edit', () => {
  it('changes what is given and keeps the rest; a bad language or an unknown list is one line, exit 2', async () => {
    expect(
      (await runCli(['list', 'create', 'weekly', '--name', 'Weekly', '--topics', 'a,b'], env())).code,
    ).toBe(0);
    const edited = await runCli(
      ['list', 'edit', 'weekly', '--name', 'The Weekly', '--private', '--single-opt-in'],
      env(),
    );
    expect(edited.stderr).toBe('');
    expect(edited.stdout.trim()).toBe('updated list weekly');
    const lists = JSON.parse((await runCli(['list', 'ls', '--json'], env())).stdout) as {
      slug: string;
      name: string;
      isPublic: boolean;
      optIn: string;
      topics: string[];
    }[];
    expect(lists.find((l) => l.slug === 'weekly')).toMatchObject({
      name: 'The Weekly',
      isPublic: false,
      optIn: 'single',
      topics: ['a', 'b'],
    });
    const bad = await runCli(['list', 'edit', 'weekly', '--language', 'english please'], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a language tag/);
    const unknown = await runCli(['list', 'edit', 'nope', '--name', 'x'], env());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no list with slug "nope"/);
  });
});
