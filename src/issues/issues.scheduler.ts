import cron, { type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import { AppError } from '../core/errors.ts';
import type { OutageGate } from '../core/outage.gate.ts';
import { databaseHealth } from '../db/db.health.ts';
import type { Database } from '../db/db.types.ts';
import { IssuesRepository } from './issues.repository.ts';
import { IssuesService } from './issues.service.ts';
import { AutoSendService } from './issues.auto-send.ts';

/** Every few seconds: start scheduled issues whose time has come. */
const TICK = '*/2 * * * * *';

export type SchedulerLog = (event: string, fields?: Record<string, unknown>) => void;

/**
 * Runs in every `serve` and `worker` process; a PostgreSQL advisory lock makes sure only one of them
 * acts at a time, so starting an issue or picking up a digest file happens once however many
 * processes run. The lock is transaction-scoped: a process that dies mid-tick lets go of it at once.
 */
export class DeliveryScheduler {
  private readonly service: IssuesService;
  private readonly repo: IssuesRepository;
  private readonly tasks: ScheduledTask[] = [];
  private ticking: Promise<unknown> | undefined;
  private readonly database: OutageGate;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly config: Config,
    private readonly log: SchedulerLog = () => {},
  ) {
    this.service = new IssuesService(db, config);
    this.repo = new IssuesRepository(db);
    this.database = databaseHealth(db);
  }

  /** Starts the timers, after one immediate tick, so a past-due issue starts when the process does. */
  start(): void {
    if (this.config.AUTO_SEND_CRON && !cron.validate(this.config.AUTO_SEND_CRON)) {
      throw new AppError(
        'config.invalid',
        `invalid setting AUTO_SEND_CRON: "${this.config.AUTO_SEND_CRON}" is not a cron expression`,
      );
    }
    this.tasks.push(
      cron.schedule(TICK, () => this.guarded(() => this.startDue()), {
        noOverlap: true,
        name: 'start-due',
        // A tick that comes late on a busy machine is no news: the next one starts what fell due.
        suppressMissedWarning: true,
        logger: this.cronLogger('start-due'),
      }),
    );
    if (this.config.DIGESTS_DIR && this.config.AUTO_SEND_CRON) {
      this.tasks.push(
        cron.schedule(this.config.AUTO_SEND_CRON, () => this.guarded(() => this.pickUpDigests()), {
          timezone: this.config.TZ,
          noOverlap: true,
          name: 'auto-send',
          logger: this.cronLogger('auto-send'),
        }),
      );
    }
    void this.guarded(() => this.startDue());
  }

  async stop(): Promise<void> {
    for (const task of this.tasks.splice(0)) await task.destroy();
    await this.ticking;
  }

  /** Starts every due scheduled issue, if this process holds the lock. Returns the ids started. */
  async startDue(): Promise<number[]> {
    const started: number[] = [];
    await this.db.transaction().execute(async (trx) => {
      if (!(await this.repo.tryJobLock(trx, 'start-due'))) return;
      for (const id of await this.repo.dueIds(trx)) {
        const enqueued = await this.service.start(trx, id, 'pause');
        if (enqueued > 0) started.push(id);
        this.log(enqueued > 0 ? 'issue_started' : 'issue_paused', { issueId: id, enqueued });
      }
    });
    return started;
  }

  /** Creates scheduled issues from DIGESTS_DIR, if this process holds the lock. */
  async pickUpDigests(now = new Date()): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (!(await this.repo.tryJobLock(trx, 'auto-send'))) return;
      // The scan runs on the lock's transaction: on one connection (PGlite, a pool of 1) a query on
      // the outer handle would wait for this transaction, which waits for the scan.
      const report = await new AutoSendService(trx, this.config).scan(now);
      for (const c of report.created) this.log('digest_scheduled', c);
      for (const s of report.skipped) this.log('digest_skipped', s);
    });
  }

  /**
   * node-cron's own warnings (a missed run, a run still going) go to the process log as events,
   * not straight to stderr, where they would break the one-line messages of the CLI.
   */
  private cronLogger(task: string): CronLogger {
    const report = (level: string) => (message: string | Error) =>
      this.log('scheduler_cron', {
        task,
        level,
        message: message instanceof Error ? message.message : message,
      });
    return { info: report('info'), warn: report('warn'), error: report('error'), debug: () => {} };
  }

  private async guarded(run: () => Promise<unknown>): Promise<void> {
    // While the database is unreachable, ticks are skipped (the gate logged the outage once); the
    // first tick after it is back starts whatever fell due meanwhile.
    if (!this.database.up) return;
    const tick = run().catch((error: Error) => {
      if (!this.database.report(error)) this.log('scheduler_failed', { error: error.message });
    });
    this.ticking = tick;
    await tick;
  }
}
