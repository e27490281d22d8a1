import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.loader.ts';
import { DeliveryScheduler } from '../src/issues/issues.scheduler.ts';
import { IssuesService } from '../src/issues/issues.service.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';
import {
  createIssue,
  DIGEST,
  exited,
  issueStatus,
  seedAudience,
  senderEnv,
  spawnWorker,
  until,
  waitForIssue,
} from './sender.helpers.ts';

describe('scheduling, pausing and cancelling issues', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    smtp = await startSmtpServer();
    await seedAudience(db.db, 300);
    await seedAudience(db.db, 1, 'sentinel');
    env = senderEnv(db.url!, smtp.url);
  });
  beforeEach(async () => {
    await sql`truncate deliveries, issues restart identity cascade`.execute(db.db);
  });
  afterEach(async () => {
    // A test that failed half-way must not leave its worker sending into the next one.
    for (const worker of workers.splice(0)) {
      worker.kill('SIGKILL');
      await exited(worker);
    }
  });
  const workers: ReturnType<typeof spawnWorker>[] = [];
  function startWorker(workerEnv: Record<string, string>) {
    const worker = spawnWorker(workerEnv);
    workers.push(worker);
    return worker;
  }
  afterAll(async () => {
    await smtp?.close();
    await db?.close();
  });

  const service = () => new IssuesService(db.db, loadConfig({ ...env }));

  async function sentIssue(id: number) {
    await waitForIssue(db.db, id, 'sent', 60_000);
    return issueStatus(env, id);
  }

  /**
   * Proof that the worker has gone round its loop since a moment, instead of sleeping "long enough":
   * a one-reader issue on another list, created now and started (by the scheduler when `due`, else
   * by a send), then waited for until its one message arrives. The worker can only have sent it
   * after reading the state the test set up just before.
   */
  async function sentinelSent(sentinelEnv: Record<string, string>, how: 'due' | 'send') {
    const toSentinel = () => smtp.messages().filter((m) => m.to.includes('sentinel-reader1@example.net'));
    const before = toSentinel().length;
    const created = await runCliInProcess(
      ['issue', 'create', DIGEST, '--list', 'sentinel', '--at', new Date(Date.now() + 60_000).toISOString()],
      sentinelEnv,
    );
    expect(created.code, created.stderr).toBe(0);
    const id = Number(created.stdout.trim());
    if (how === 'due') {
      await sql`update issues set send_at = now() - interval '1 second' where id = ${id}`.execute(db.db);
    } else {
      await service().send(String(id));
    }
    await waitForIssue(db.db, id, 'sent', 60_000);
    expect(toSentinel()).toHaveLength(before + 1);
  }

  /** The issue's deliveries are no longer held by a worker (what it had in flight is done or put back). */
  async function nothingInFlight(id: number) {
    await until(
      async () => {
        const row = await db.db
          .selectFrom('deliveries')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('issue_id', '=', id)
          .where('status', '=', 'sending')
          .executeTakeFirstOrThrow();
        return Number(row.n) === 0 ? true : undefined;
      },
      60_000,
      `issue ${id} to have nothing in flight`,
    );
  }

  it('starts an issue whose time passed while nothing was running as soon as a worker starts', async () => {
    const id = await createIssue(env, ['--at', new Date(Date.now() + 5_000).toISOString()]);
    // The time passes with no worker up (moved back rather than waited for).
    await sql`update issues set send_at = now() - interval '1 hour' where id = ${id}`.execute(db.db);
    const worker = startWorker(env);
    const done = await sentIssue(id);
    worker.kill('SIGTERM');
    await exited(worker);
    expect(done.counts.sent).toBe(300);
  }, 120_000);

  it('does not start an issue scheduled for later before its time', async () => {
    const worker = startWorker(env);
    const id = await createIssue(env, ['--at', new Date(Date.now() + 3_600_000).toISOString()]);
    // The scheduler has ticked since the issue was made (it started another, due, issue) and left
    // this one alone: a state to wait for, not a time.
    await sentinelSent(env, 'due');
    const early = await issueStatus(env, id);
    expect(early.status).toBe('scheduled');
    expect(early.counts.total).toBe(0);
    // Its time comes (moved forward rather than waited for): it starts then, and not before.
    const due = await sql<{ at: Date }>`
      update issues set send_at = now() where id = ${id} returning send_at as at
    `.execute(db.db);
    const at = new Date(due.rows[0]!.at);
    await sentIssue(id);
    worker.kill('SIGTERM');
    await exited(worker);
    const issue = await db.db.selectFrom('issues').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(issue.started_at!.getTime()).toBeGreaterThanOrEqual(at.getTime());
    const first = await db.db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.min('sent_at').as('first'))
      .where('issue_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(new Date(first.first as Date).getTime()).toBeGreaterThanOrEqual(at.getTime());
  }, 120_000);

  it('sends nothing for a paused issue until it is resumed', async () => {
    const id = await createIssue(env, ['--at', new Date(Date.now() + 60_000).toISOString()]);
    expect((await runCliInProcess(['issue', 'pause', String(id)], env)).stdout).toContain('paused');
    // Its time comes while it is paused.
    await sql`update issues set send_at = now() - interval '1 second' where id = ${id}`.execute(db.db);
    const worker = startWorker(env);
    const before = smtp.messages().length;
    // The scheduler has ticked past the paused issue's time once it has started another due issue.
    await sentinelSent(env, 'due');
    expect(smtp.messages().length).toBe(before + 1);
    const paused = await issueStatus(env, id);
    expect(paused.status).toBe('paused');
    expect(paused.counts.total).toBe(0);

    expect((await runCliInProcess(['issue', 'resume', String(id)], env)).stdout).toContain('scheduled');
    const done = await sentIssue(id);
    worker.kill('SIGTERM');
    await exited(worker);
    expect(done.counts.sent).toBe(300);
    expect(smtp.messages().length).toBe(before + 1 + 300);
  }, 120_000);

  it('pauses mid-send within the in-flight window, and a resume sends the rest once', async () => {
    const slowEnv = { ...env, SEND_RATE: '25', SEND_BATCH_SIZE: '10' };
    const id = await createIssue(slowEnv);
    const before = smtp.messages().length;
    const worker = startWorker(slowEnv);
    expect((await runCliInProcess(['issue', 'send', String(id)], slowEnv)).code).toBe(0);
    await smtp.waitFor(before + 30);
    // The same service the CLI calls, in-process, so a slow machine's process start-up does not let
    // the whole list go out before the pause.
    await service().pause(String(id));
    await nothingInFlight(id);
    const atPause = smtp.messages().length;
    // The worker went on working (it sent another issue) and sent nothing more of the paused one.
    await sentinelSent(slowEnv, 'send');
    expect(smtp.messages().length).toBe(atPause + 1);
    const paused = await issueStatus(slowEnv, id);
    expect(paused.status).toBe('paused');
    expect(paused.pause_reason).toBe('paused by a user');
    expect(paused.counts.sending).toBe(0);
    expect(paused.counts.queued).toBeGreaterThan(0);

    expect((await runCliInProcess(['issue', 'resume', String(id)], slowEnv)).stdout).toContain('sending');
    const done = await sentIssue(id);
    worker.kill('SIGTERM');
    await exited(worker);
    expect(done.counts.sent).toBe(300);
    expect(smtp.messages().length).toBe(before + 1 + 300);
  }, 120_000);

  it('cancel stops a sending issue for good', async () => {
    const slowEnv = { ...env, SEND_RATE: '25', SEND_BATCH_SIZE: '10' };
    const id = await createIssue(slowEnv);
    const before = smtp.messages().length;
    const worker = startWorker(slowEnv);
    expect((await runCliInProcess(['issue', 'send', String(id)], slowEnv)).code).toBe(0);
    await smtp.waitFor(before + 20);
    expect((await service().cancel(String(id))).status).toBe('cancelled');
    await nothingInFlight(id);
    const atCancel = smtp.messages().length;
    await sentinelSent(slowEnv, 'send');
    expect(smtp.messages().length).toBe(atCancel + 1);
    worker.kill('SIGTERM');
    await exited(worker);
    const status = await issueStatus(slowEnv, id);
    expect(status.status).toBe('cancelled');
    expect(status.counts.sent).toBeLessThan(300);
    expect((await runCliInProcess(['issue', 'resume', String(id)], slowEnv)).stderr).toContain(
      'cannot resume issue',
    );
  }, 120_000);

  it('starts due issues in one process only: the others find the advisory lock taken', async () => {
    const id = await createIssue(env, ['--at', new Date(Date.now() + 5_000).toISOString()]);
    await sql`update issues set send_at = now() - interval '1 minute' where id = ${id}`.execute(db.db);
    const config = loadConfig({ ...env });
    const schedulers = [new DeliveryScheduler(db.db, config), new DeliveryScheduler(db.db, config)];
    // Another process is mid-tick: it holds the lock in its transaction.
    const holder = await db.db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      await sql`select pg_advisory_xact_lock(${0x646d7301})`.execute(conn);
      const whileHeld = await Promise.all(schedulers.map((s) => s.startDue()));
      await sql`rollback`.execute(conn);
      return whileHeld;
    });
    expect(holder).toEqual([[], []]);
    const started = await Promise.all(schedulers.map((s) => s.startDue()));
    expect(started.flat()).toEqual([id]);
    const status = await issueStatus(env, id);
    expect(status.status).toBe('sending');
    expect(status.counts.total).toBe(300);
  }, 60_000);
});

describe('the scheduler on the embedded database (one connection)', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    await seedAudience(db.db, 3);
    await db.db
      .insertInto('lists')
      .values({ slug: 'nobody', name: 'Nobody', opt_in: 'single', topics: [] })
      .execute();
    dir = mkdtempSync(join(tmpdir(), 'dm-digests-pglite-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db?.close();
  });

  it('picks up a digest, starts it, and pauses a due issue for an empty list with the reason', async () => {
    writeFileSync(join(dir, '2026-11-20-due.md'), readFileSync(DIGEST, 'utf8'));
    const config = loadConfig({
      ...senderEnv('postgres://unused', 'outbox:/tmp/unused'),
      DIGESTS_DIR: dir,
      AUTO_SEND_LIST: 'news',
      AUTO_SEND_CRON: '0 7 * * *',
    });
    const scheduler = new DeliveryScheduler(db.db, config);
    await scheduler.pickUpDigests();
    await scheduler.pickUpDigests();
    const picked = await db.db.selectFrom('issues').select(['id', 'status']).execute();
    expect(picked).toEqual([{ id: picked[0]!.id, status: 'scheduled' }]);

    const empty = await new IssuesService(db.db, config).create({ digestPath: DIGEST, listSlug: 'nobody' });
    await db.db
      .updateTable('issues')
      .set({ status: 'scheduled', send_at: new Date() })
      .where('id', '=', empty.id)
      .execute();
    expect(await scheduler.startDue()).toEqual([picked[0]!.id]);
    const issues = await db.db
      .selectFrom('issues')
      .select(['id', 'status', 'pause_reason'])
      .orderBy('id')
      .execute();
    expect(issues).toEqual([
      { id: picked[0]!.id, status: 'sending', pause_reason: null },
      {
        id: empty.id,
        status: 'paused',
        pause_reason: 'nobody to send to: list "nobody" has no confirmed subscribers',
      },
    ]);
  });
});

describe('picking up digests from DIGESTS_DIR', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    await seedAudience(db.db, 5);
    dir = mkdtempSync(join(tmpdir(), 'dm-digests-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db?.close();
  });

  it('schedules each due, non-draft digest file exactly once, keyed by name and content', async () => {
    const source = readFileSync(DIGEST, 'utf8');
    const dated = (date: string, extra = '') => source.replace(/^date: .*$/m, `date: ${date}${extra}`);
    writeFileSync(join(dir, '2026-11-20-due.md'), source);
    writeFileSync(join(dir, '2099-01-01-future.md'), dated('2099-01-01T08:00:00+01:00'));
    writeFileSync(join(dir, '2026-11-19-draft.md'), dated('2026-11-19T08:00:00+01:00', '\ndraft: true'));
    writeFileSync(join(dir, '2026-11-18-broken.md'), '---\ntitle: [unclosed\n---\n');
    writeFileSync(join(dir, 'notes.txt'), 'not a digest');
    const config = loadConfig({
      ...senderEnv('postgres://unused', 'outbox:/tmp/unused'),
      DIGESTS_DIR: dir,
      AUTO_SEND_LIST: 'news',
      AUTO_SEND_CRON: '0 7 * * *',
    });
    const scheduler = new DeliveryScheduler(db.db, config);
    await Promise.all([scheduler.pickUpDigests(), scheduler.pickUpDigests()]);
    await scheduler.pickUpDigests();
    let issues: { digest_path: string | null }[] = await db.db
      .selectFrom('issues')
      .select(['id', 'status', 'digest_path', 'send_at'])
      .execute();
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ status: 'scheduled', digest_path: '2026-11-20-due.md' });

    // Edited content is a new digest: a new issue, once.
    writeFileSync(join(dir, '2026-11-20-due.md'), source.replace('This week', 'This week (corrected)'));
    await scheduler.pickUpDigests();
    await scheduler.pickUpDigests();
    issues = await db.db.selectFrom('issues').select(['digest_path']).execute();
    expect(issues).toHaveLength(2);

    // Its date came: the future one is picked up when the clock says so.
    await scheduler.pickUpDigests(new Date('2099-01-02T00:00:00Z'));
    issues = await db.db.selectFrom('issues').select(['digest_path']).execute();
    expect(issues.map((i) => i.digest_path)).toContain('2099-01-01-future.md');
    expect(issues.map((i) => i.digest_path)).not.toContain('2026-11-19-draft.md');
  });

  it('refuses an AUTO_SEND_CRON that is not a cron expression', () => {
    const config = loadConfig({
      ...senderEnv('postgres://unused', 'outbox:/tmp/unused'),
      DIGESTS_DIR: dir,
      AUTO_SEND_CRON: 'every morning',
    });
    expect(() => new DeliveryScheduler(db.db, config).start()).toThrow(/AUTO_SEND_CRON/);
  });
});
