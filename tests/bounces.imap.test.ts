import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SeededDelivery, seedIssue } from './bounces.seed.ts';
import { BIN, runCliInProcess } from './helpers/cli.ts';
import { startDovecot, type TestDovecot } from './helpers/dovecot.ts';
import { startServe } from './helpers/serve.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

/**
 * The bounce-mailbox watcher against a real IMAP server (Dovecot, in its own process): mail placed
 * in the mailbox with APPEND, as an MTA's local delivery would, is ingested, moved, remembered, and
 * the watcher lives through the server going away.
 */

const SECRET = 'imap-test-secret-0123456789abcdef0123456789';
// A poll interval the tests never reach: a watcher started with it ingests a new message only when
// the server pushes it (IDLE), however long a busy machine takes to get there.
const NO_POLL = ['--poll-seconds', '86400'];

let database: TestDatabase;
let dovecot: TestDovecot;

beforeAll(async () => {
  [database, dovecot] = await Promise.all([createTestDatabase('postgres'), startDovecot()]);
});

afterAll(async () => {
  await dovecot?.close();
  await database?.close();
});

/** A real Postfix-shaped DSN for the delivery, found through the Message-ID it returns. */
function dsnFor(d: SeededDelivery): Buffer {
  const text = readFileSync(new URL('./fixtures/dsn/postfix-user-unknown.eml', import.meta.url), 'utf8')
    .replaceAll('{{VERP}}', 'bounces@news.example.org')
    .replaceAll('{{RECIPIENT}}', d.email)
    .replaceAll('{{RECIPIENT_LOCAL}}', d.email.split('@')[0]!)
    .replaceAll('{{MESSAGE_ID}}', d.messageId)
    .replaceAll('{{ISSUE_ID}}', String(d.issueId))
    .replace(/^Message-Id: .*$/m, `Message-Id: <${randomUUID()}@mx.example.net>`);
  return Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');
}

/** The number of messages in a folder (0 when it does not exist). */
async function messagesIn(client: ImapFlow, folder: string): Promise<number> {
  const status = await client.status(folder, { messages: true }).catch(() => false as const);
  return status ? (status.messages ?? 0) : 0;
}

/** The test's own IMAP client: puts mail in the mailbox and looks at the folders. */
async function imap<T>(work: (client: ImapFlow) => Promise<T>, server = dovecot): Promise<T> {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: server.port,
    secure: false,
    auth: { user: server.user, pass: server.password },
    logger: false,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

async function append(raw: Buffer, server = dovecot): Promise<{ uid: number; uidValidity: number }> {
  return imap(async (client) => {
    const result = await client.append('INBOX', raw);
    if (!result || result.uid === undefined || result.uidValidity === undefined)
      throw new Error('no APPENDUID');
    return { uid: result.uid, uidValidity: Number(result.uidValidity) };
  }, server);
}

async function counts(server = dovecot): Promise<{ inbox: number; processed: number }> {
  return imap(
    async (client) => ({
      inbox: await messagesIn(client, 'INBOX'),
      processed: await messagesIn(client, 'Processed'),
    }),
    server,
  );
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function eventsOf(d: SeededDelivery) {
  return database.db.selectFrom('events').selectAll().where('delivery_id', '=', d.id).execute();
}

function ingestedWithin(d: SeededDelivery, timeoutMs: number) {
  return waitFor(
    `an event for delivery ${d.id}`,
    async () => ((await eventsOf(d)).length > 0 ? true : undefined),
    timeoutMs,
  );
}

interface RunningWatcher {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  lines(): Record<string, unknown>[];
  output(): string;
  waitForLog(msg: string, count?: number): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

function startWatcher(
  args: string[] = [],
  env: Record<string, string> = {},
  url = dovecot.url,
): RunningWatcher {
  const child = spawn(process.execPath, [BIN, 'bounces', 'watch', '--imap', url, ...args], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      DEBUG: '',
      DATABASE_URL: database.url,
      SECRET_KEY: SECRET,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = () =>
    output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    child,
    lines,
    output: () => output,
    waitForLog: (msg, count = 1) =>
      waitFor(
        `log line "${msg}" (output so far: ${output.slice(-500)})`,
        async () => {
          if (child.exitCode !== null) throw new Error(`the watcher exited: ${output}`);
          const found = lines().filter((l) => l.msg === msg);
          return found.length >= count ? found[count - 1] : undefined;
        },
        60_000,
      ),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

// Real processes (Dovecot, the CLI) on a machine that may be busy: generous per-test time.
describe('digestmail bounces watch --imap (Dovecot)', { timeout: 180_000 }, () => {
  it('a bounce appended to the mailbox is ingested through IDLE, moved to Processed, and never ingested twice across a restart', async () => {
    const { deliveries } = await seedIssue(database.db, [
      'first-gone@example.net',
      'remembered@example.net',
      'third-gone@example.net',
    ]);
    const [first, remembered, third] = deliveries as [SeededDelivery, SeededDelivery, SeededDelivery];

    const watcher = startWatcher(NO_POLL);
    const watching = await watcher.waitForLog('bounce_mailbox_watching');
    expect(watching.push).toBe('IDLE');

    const appended = Date.now();
    const firstMessage = await append(dsnFor(first));
    // No poll comes during the test: that it is ingested at all shows the push.
    await ingestedWithin(first, 60_000);
    // For the report: how long the push took on this run (not asserted: the machine may be busy).
    console.info(`IMAP IDLE: ingested ${Date.now() - appended} ms after APPEND`);
    expect((await eventsOf(first)).map((e) => e.type)).toEqual(['hard_bounce']);
    await waitFor('the message moved to Processed', async () => {
      const now = await counts();
      return now.inbox === 0 && now.processed === 1 ? now : undefined;
    });
    const row = await database.db
      .selectFrom('imap_messages')
      .selectAll()
      .where('uid', '=', firstMessage.uid)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'done', result: 'processed', uid_validity: firstMessage.uidValidity });
    expect(await watcher.stop()).toBe(0);

    // While no watcher runs: a message a previous watcher ingested but did not get to move (it
    // stopped in between), and a new bounce.
    const left = await append(dsnFor(remembered));
    await database.db
      .insertInto('imap_messages')
      .values({
        mailbox: String(row.mailbox),
        uid_validity: left.uidValidity,
        uid: left.uid,
        state: 'done',
        claimed_by: 'an earlier watcher',
        result: 'processed',
        detail: '1 event(s)',
        // Before it stopped: long enough ago that no other watcher can still be moving it.
        claimed_at: new Date(Date.now() - 3_600_000),
        done_at: new Date(Date.now() - 3_600_000),
      })
      .execute();
    const thirdMessage = await append(dsnFor(third));

    const again = startWatcher();
    await ingestedWithin(third, 60_000);
    await waitFor('both messages moved', async () => {
      const now = await counts();
      return now.inbox === 0 && now.processed === 3 ? now : undefined;
    });
    expect(await again.stop()).toBe(0);

    const ingested = again.lines().filter((l) => l.msg === 'bounce_mail_ingested');
    expect(ingested.map((l) => l.uid)).toEqual([thirdMessage.uid]);
    // Remembered as ingested: moved, not ingested again (no event recorded for it now).
    expect(await eventsOf(remembered)).toEqual([]);
    expect(await eventsOf(first)).toHaveLength(1);
    expect(watcher.output() + again.output()).not.toContain(dovecot.password);
  });

  it('a mail server restart is one outage: one line when it starts, one when it ends, and mail after it is ingested', async () => {
    const { deliveries } = await seedIssue(database.db, ['after-outage@example.net']);
    const watcher = startWatcher(['--folder', 'Done']);
    await watcher.waitForLog('bounce_mailbox_watching');

    await dovecot.stop();
    const outage = await watcher.waitForLog('bounce_mailbox_outage');
    expect(outage.level).toBe(40);
    await dovecot.start();
    await watcher.waitForLog('bounce_mailbox_recovered');

    await append(dsnFor(deliveries[0]!));
    await ingestedWithin(deliveries[0]!, 60_000);
    const moved = await waitFor('the message moved to Done', () =>
      imap(async (client) => {
        const done = await messagesIn(client, 'Done');
        return done === 1 ? done : undefined;
      }),
    );
    expect(moved).toBe(1);
    expect(await watcher.stop()).toBe(0);
    const messages = watcher.lines().map((l) => l.msg);
    expect(messages.filter((m) => m === 'bounce_mailbox_outage')).toHaveLength(1);
    expect(messages.filter((m) => m === 'bounce_mailbox_recovered')).toHaveLength(1);
    expect(watcher.output()).not.toContain(dovecot.password);
  });

  it('--maildir reads a maildir as Dovecot writes it (the folder the watcher filled): every message, nothing recorded twice', async () => {
    const { deliveries } = await seedIssue(database.db, ['dovecot-maildir@example.net']);
    const watcher = startWatcher(['--folder', 'Archive']);
    await watcher.waitForLog('bounce_mailbox_watching');
    await append(dsnFor(deliveries[0]!));
    await append(Buffer.from('From: someone@example.net\r\nSubject: hello\r\n\r\nnot a bounce\r\n'));
    await waitFor('both messages moved to Archive', () =>
      imap(async (client) => ((await messagesIn(client, 'Archive')) === 2 ? true : undefined)),
    );
    expect(await watcher.stop()).toBe(0);
    const before = await database.db.selectFrom('events').select('id').execute();

    // Dovecot's own layout: .Archive/{cur,new,tmp} beside dovecot-uidlist and index files.
    const result = await runCliInProcess(['bounces', 'ingest', '--maildir', `${dovecot.maildir}/.Archive`], {
      DATABASE_URL: database.url,
      SECRET_KEY: SECRET,
    });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(
      /: 2 message\(s\) in [\d.]+ s \(\d+\/s\): 1 bounce\(s\) applied \(1 event\(s\), 0 suppression\(s\)\), 1 not a bounce, 0 unmatched, 0 ignored/,
    );
    expect(await database.db.selectFrom('events').select('id').execute()).toEqual(before);
  });

  it('two watchers on one mailbox take each message once', async () => {
    const { deliveries } = await seedIssue(
      database.db,
      Array.from({ length: 8 }, (_, i) => `shared-${i}@example.net`),
    );
    const a = startWatcher(['--folder', 'Shared']);
    const b = startWatcher(['--folder', 'Shared']);
    await Promise.all([a.waitForLog('bounce_mailbox_watching'), b.waitForLog('bounce_mailbox_watching')]);
    const uids: number[] = [];
    for (const d of deliveries) uids.push((await append(dsnFor(d))).uid);
    for (const d of deliveries) await ingestedWithin(d, 60_000);
    await waitFor('every message moved to Shared, once', () =>
      imap(async (client) =>
        (await messagesIn(client, 'INBOX')) === 0 &&
        (await messagesIn(client, 'Shared')) === deliveries.length
          ? true
          : undefined,
      ),
    );
    expect([await a.stop(), await b.stop()]).toEqual([0, 0]);
    const taken = [...a.lines(), ...b.lines()]
      .filter((l) => l.msg === 'bounce_mail_ingested')
      .map((l) => Number(l.uid))
      .sort((x, y) => x - y);
    expect(taken).toEqual(uids);
    // Neither saw a failure while the other moved messages from under it.
    expect([...a.lines(), ...b.lines()].filter((l) => l.msg === 'bounce_mailbox_outage')).toEqual([]);
  });

  it('a server without IDLE is looked at every --poll-seconds, and what arrives is ingested', async () => {
    const quiet = await startDovecot({ withoutIdle: true });
    try {
      const { deliveries } = await seedIssue(database.db, ['polled-gone@example.net']);
      const watcher = startWatcher(['--poll-seconds', '1'], {}, quiet.url);
      const watching = await watcher.waitForLog('bounce_mailbox_watching');
      expect(watching.push).toBe('none, polling every 1 s');
      await append(dsnFor(deliveries[0]!), quiet);
      await ingestedWithin(deliveries[0]!, 60_000);
      await waitFor('the message moved to Processed', async () => {
        const now = await counts(quiet);
        return now.inbox === 0 && now.processed === 1 ? now : undefined;
      });
      expect(await watcher.stop()).toBe(0);
    } finally {
      await quiet.close();
    }
  });

  it('serve watches BOUNCE_IMAP_URL and ingests what arrives there', async () => {
    const { deliveries } = await seedIssue(database.db, ['serve-gone@example.net']);
    const serve = await startServe({
      NODE_ENV: 'test',
      DATABASE_URL: database.url,
      SECRET_KEY: SECRET,
      BOUNCE_IMAP_URL: dovecot.url,
      BOUNCE_IMAP_FOLDER: 'ServeDone',
    });
    try {
      await append(dsnFor(deliveries[0]!));
      await ingestedWithin(deliveries[0]!, 60_000);
      await waitFor('the message moved to ServeDone', () =>
        imap(async (client) => {
          const done = await messagesIn(client, 'ServeDone');
          return done === 1 ? done : undefined;
        }),
      );
    } finally {
      expect(await serve.stop()).toBe(0);
    }
    expect(serve.output()).not.toContain(dovecot.password);
  });

  it('a sending worker watches BOUNCE_IMAP_URL too', async () => {
    const { deliveries } = await seedIssue(database.db, ['worker-gone@example.net']);
    const worker = spawn(process.execPath, [BIN, 'worker'], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DEBUG: '',
        DATABASE_URL: database.url,
        SECRET_KEY: SECRET,
        BOUNCE_IMAP_URL: dovecot.url,
        BOUNCE_IMAP_FOLDER: 'WorkerDone',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    worker.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    worker.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    try {
      await append(dsnFor(deliveries[0]!));
      await ingestedWithin(deliveries[0]!, 60_000);
      await waitFor('the message moved to WorkerDone', () =>
        imap(async (client) => ((await messagesIn(client, 'WorkerDone')) === 1 ? true : undefined)),
      );
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).toContain('bounce_mail_ingested');
    expect(output).not.toContain(dovecot.password);
  });

  it('a refused login or a malformed URL is one line and exit 2, never showing the password', async () => {
    const wrong = dovecot.url.replace(dovecot.password, 'not-the-password-5521');
    const refused = await runCliInProcess(['bounces', 'watch', '--imap', wrong], {
      DATABASE_URL: database.url,
      SECRET_KEY: SECRET,
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain(`refused the login for imap://***@127.0.0.1:${dovecot.port}/INBOX`);
    expect(refused.stderr + refused.stdout).not.toContain('not-the-password-5521');

    const malformed = await runCliInProcess(
      ['bounces', 'watch', '--imap', 'pop3://bounces:s3cret-word@127.0.0.1/INBOX'],
      {
        DATABASE_URL: database.url,
        SECRET_KEY: SECRET,
      },
    );
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/^digestmail: invalid IMAP URL "pop3:\/\/\*\*\*@127\.0\.0\.1\/INBOX"/);
    expect(malformed.stderr).not.toContain('s3cret-word');

    const setting = await runCliInProcess(['bounces', 'ingest', '--maildir', '/nonexistent'], {
      DATABASE_URL: database.url,
      SECRET_KEY: SECRET,
      BOUNCE_IMAP_URL: 'imaps://bounces:s3cret-word@',
    });
    expect(setting.code).toBe(2);
    expect(setting.stderr).toContain('BOUNCE_IMAP_URL');
    expect(setting.stderr).not.toContain('s3cret-word');
  });
});
