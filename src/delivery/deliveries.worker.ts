import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import { OutageGate, sleep } from '../core/outage.gate.ts';
import { databaseHealth } from '../db/db.health.ts';
import type { Database, IssueStatus } from '../db/db.types.ts';
import { type OutgoingMessage, type Transport, TransportError } from '../transports/transport.types.ts';
import {
  type ClaimedDelivery,
  DeliveriesRepository,
  type FailedRecord,
  type RetryRecord,
  type SentRecord,
} from './deliveries.repository.ts';
import { retryDelayMs } from './retry.policy.ts';
import { SendRateLimiter } from './send-rate.limiter.ts';

/** How often a worker folds the per-issue count deltas (migration 140). */
const COMPACT_EVERY_MS = 2000;

/** What the worker knows about an issue it sends: its compiled template and its list. */
export interface SendingIssue {
  id: number;
  status: IssueStatus;
  template: unknown;
  list: { id: number; slug: string; name: string; trackClicks?: boolean };
}

/**
 * How the worker learns which issues to send and reports what became of them. The issues module
 * implements it (IssueLifecycle) when the process is wired up, so delivery never imports issues and
 * issues stays the one writer of an issue's status.
 */
export interface IssueSource {
  /** Ids of the issues in `sending`, oldest first. */
  sendingIds(): Promise<number[]>;
  statuses(ids: number[]): Promise<Map<number, IssueStatus>>;
  /** What the worker needs to send an issue; undefined when there is no such issue. */
  load(id: number): Promise<SendingIssue | undefined>;
  /** "drained": no delivery of this issue is left to send. True when that finished the issue (now sent). */
  drained(issueId: number): Promise<boolean>;
  /** "fatal": the issue cannot go on (refused by the provider, unbuildable, failing). False when it was no longer sending. */
  fatal(issueId: number, reason: string): Promise<boolean>;
}

/** Builds the finished message for one recipient (MessageBuilder in production). */
export type BuildMessage = (
  issue: SendingIssue,
  delivery: ClaimedDelivery,
) => OutgoingMessage | Promise<OutgoingMessage>;

export interface WorkerOptions {
  db: Kysely<Database>;
  config: Pick<
    Config,
    | 'SEND_RATE'
    | 'SEND_CONCURRENCY'
    | 'SEND_BATCH_SIZE'
    | 'LEASE_SECONDS'
    | 'MAX_ATTEMPTS'
    | 'RETRY_BASE_SECONDS'
    | 'FAILURE_PAUSE_RATE'
  >;
  transport: Transport;
  build: BuildMessage;
  /** Where issues come from and where "drained" and "fatal" go (IssueLifecycle in production). */
  issues: IssueSource;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  /** How long to rest when there is nothing to send. */
  idleMs?: number;
}

export interface WorkerStats {
  sent: number;
  retried: number;
  failed: number;
}

/** An issue is judged on its failure rate only after this many final verdicts. */
const FAILURE_SAMPLE = 20;
/** Results are written in batches: at most this many, or after this long. */
const FLUSH_SIZE = 200;
const FLUSH_MS = 100;
/** How often the worker rereads the status of the issues it holds (a pause or cancel takes effect). */
const STATUS_REFRESH_MS = 1000;

/**
 * The sending loop. It claims deliveries in batches, sends them over SEND_CONCURRENCY parallel sends
 * within the shared SEND_RATE, and records the results in batches.
 *
 * Crash safety: a claimed delivery is `sending` with a lease until its result is committed. The worker
 * holds at most two batches that way (the in-flight window, 2 × the claim size); if it dies, those
 * leases run out, another worker (or this one restarted) takes them again and counts each in
 * `crash_resends`. Nothing else can be lost, and nothing else can be sent twice.
 */
export class DeliveryWorker {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly stats: WorkerStats = { sent: 0, retried: 0, failed: 0 };
  /** Deliveries claimed and not yet sent. */
  private readonly queue: ClaimedDelivery[] = [];
  /** Deliveries claimed whose result is not yet committed (the in-flight window). */
  private readonly held = new Set<number>();
  private results = { sent: [] as SentRecord[], retry: [] as RetryRecord[], failed: [] as FailedRecord[] };
  private readonly issues = new Map<number, SendingIssue>();
  private readonly repo: DeliveriesRepository;
  private readonly source: IssueSource;
  private readonly limiter: SendRateLimiter;
  private readonly claimSize: number;
  private readonly window: number;
  /** Failures were recorded since the issues' failure rates were last looked at. */
  private failureCheckDue = false;
  private lastFailureCheck = 0;
  private lastCompaction = 0;
  private sendingIssueIds: number[] = [];
  private nextIssue = 0;
  private statusCheckedAt = 0;
  private refilling: Promise<void> | undefined;
  private flushing: Promise<void> | undefined;
  private stopping = false;
  /** Aborted by stop(): ends every wait for the database or the mail provider to come back. */
  private readonly stopSignal = new AbortController();
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** Closed while the database is unreachable: the worker claims nothing and keeps its results. */
  private readonly database: OutageGate;
  /** Closed while the mail provider is unreachable: nothing is sent, nothing counts as an attempt. */
  readonly provider: OutageGate;

  constructor(private readonly options: WorkerOptions) {
    const { config } = options;
    this.database = databaseHealth(options.db);
    const transport = options.transport;
    this.provider = new OutageGate({
      name: transport.name,
      isOutage: (error) => asTransportError(error).unreachable,
      probe: () => transport.probe?.() ?? Promise.resolve(),
    });
    this.provider.onEvent = (event) => {
      const { event: name, ...fields } = event;
      this.log(name === 'outage_started' ? 'transport_unreachable' : 'transport_reachable', fields);
    };
    this.repo = new DeliveriesRepository(options.db);
    this.source = options.issues;
    this.limiter = new SendRateLimiter(options.db, config.SEND_RATE);
    // A claim is about two seconds of sending at the full rate (never more than SEND_BATCH_SIZE), so
    // several workers share an issue evenly and a slow rate does not sit on leases it cannot use.
    this.claimSize = Math.max(
      config.SEND_CONCURRENCY,
      Math.min(config.SEND_BATCH_SIZE, Math.ceil(config.SEND_RATE * 2)),
    );
    this.window = 2 * this.claimSize;
  }

  /** The most deliveries this worker can hold uncommitted at once: what a crash may resend. */
  get inFlightWindow(): number {
    return this.window;
  }

  /** Starts the loop; resolves when stop() has finished it. */
  start(): Promise<void> {
    this.running ??= this.run();
    return this.running;
  }

  /** Stops claiming, lets the sends in progress finish, releases what was not sent and commits it all. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    this.limiter.stop();
    this.wake?.();
    await this.running;
    await this.provider.close();
  }

  private async run(): Promise<void> {
    const { config } = this.options;
    const renew = setInterval(
      () => {
        this.renewLeases().catch((error) => {
          if (!this.database.report(error))
            this.log('lease_renew_failed', { error: (error as Error).message });
        });
      },
      // Three renewals per lease: one lost to a slow database still leaves the lease alive.
      (config.LEASE_SECONDS * 1000) / 3,
    );
    const flusher = setInterval(() => void this.flush(), FLUSH_MS);
    try {
      const senders = Array.from({ length: config.SEND_CONCURRENCY }, () => this.sender());
      await Promise.all(senders);
      // A claim may still be on its way back from the database: wait for it, or its rows would sit
      // leased until the lease ran out and then count as crash resends.
      await this.refilling;
      // Claimed but never started: hand them back at once rather than waiting for the lease.
      for (const delivery of this.queue.splice(0)) this.release(delivery);
    } finally {
      clearInterval(renew);
      clearInterval(flusher);
      await this.flushUntilEmpty();
    }
  }

  private async sender(): Promise<void> {
    for (;;) {
      const delivery = await this.next();
      if (!delivery) return;
      await this.deliver(delivery);
      if (this.pendingResults() >= FLUSH_SIZE) void this.flush();
    }
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const issue = this.issues.get(delivery.issueId);
    if (issue?.status !== 'sending') return this.release(delivery);
    try {
      await this.limiter.take();
    } catch {
      return this.release(delivery); // stopping
    }
    let message: OutgoingMessage;
    try {
      message = await this.options.build(issue, delivery);
    } catch (error) {
      // A message that cannot be built fails for everyone alike: stop the issue, keep the list.
      await this.pauseIssue(issue, `cannot build the message: ${(error as Error).message}`);
      return this.release(delivery);
    }
    try {
      const result = await this.options.transport.send(message);
      this.results.sent.push({
        id: delivery.id,
        messageId: message.messageId,
        providerMessageId: result.providerMessageId,
        sentAt: new Date(),
      });
      this.stats.sent++;
    } catch (error) {
      const failure = asTransportError(error);
      if (this.provider.report(failure)) {
        // The provider is down, not this message: keep the delivery (and its lease) for when it is
        // back. It was never accepted, so this try is not an attempt.
        this.queue.unshift(delivery);
        return;
      }
      await this.failed(issue, delivery, failure);
    }
  }

  private renewLeases(): Promise<void> {
    return this.repo.renewLeases(this.id, [...this.held], this.options.config.LEASE_SECONDS);
  }

  private async failed(issue: SendingIssue, delivery: ClaimedDelivery, error: TransportError): Promise<void> {
    const { config } = this.options;
    const detail = `${error.code}: ${error.message}`.slice(0, 1000);
    if (error.kind === 'fatal') {
      await this.pauseIssue(issue, `the mail provider refused to send: ${detail}`);
      return this.release(delivery);
    }
    if (error.kind === 'permanent') {
      this.results.failed.push({
        id: delivery.id,
        error: detail,
        hardBounce: error.hardBounce,
        bounce: error.bounce && {
          reason: error.bounce.reason,
          status: error.bounce.status,
          diagnostic: error.message,
        },
      });
      this.stats.failed++;
      return;
    }
    if (error.throttled) await this.limiter.throttled(error.retryAfterMs).catch(() => {});
    if (delivery.attempts >= config.MAX_ATTEMPTS) {
      this.results.failed.push({
        id: delivery.id,
        error: `gave up after ${delivery.attempts} attempts: ${detail}`.slice(0, 1000),
        hardBounce: false,
      });
      this.stats.failed++;
      return;
    }
    const delay = error.retryAfterMs ?? retryDelayMs(delivery.attempts, config.RETRY_BASE_SECONDS);
    this.results.retry.push({ id: delivery.id, nextAttemptAt: new Date(Date.now() + delay), error: detail });
    this.stats.retried++;
  }

  /** Gives a claimed delivery back untouched: it was never handed to the transport. */
  private release(delivery: ClaimedDelivery): void {
    this.results.retry.push({ id: delivery.id, nextAttemptAt: new Date(), error: '', refund: true });
  }

  private async pauseIssue(issue: SendingIssue, reason: string): Promise<void> {
    if (issue.status !== 'sending') return;
    issue.status = 'paused';
    if (await this.source.fatal(issue.id, reason).catch(() => false)) {
      this.log('issue_paused', { issueId: issue.id, reason });
    }
  }

  /** The next delivery to send, claiming more when the local queue runs low; undefined once stopping. */
  private async next(): Promise<ClaimedDelivery | undefined> {
    for (;;) {
      if (this.stopping) return undefined;
      // The mail provider is down: nothing is sent until a probe gets through (leases are renewed).
      if (!this.provider.up) {
        await this.provider.waitUntilUp(this.stopSignal.signal);
        continue;
      }
      // Claim again as soon as the window has room: a claim then has a whole batch's sending time to
      // come back, and the senders do not wait on the database.
      if (this.queue.length <= this.claimSize && this.held.size + this.claimSize <= this.window) {
        this.refilling ??= this.refill().finally(() => {
          this.refilling = undefined;
        });
      }
      const delivery = this.queue.shift();
      if (delivery) return delivery;
      if (this.refilling) await this.refilling;
      // The window is full: wait for results to be committed before claiming more.
      else if (this.pendingResults() > 0 || this.flushing) await this.flush();
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private async refill(): Promise<void> {
    try {
      await this.refreshIssues();
      for (let tried = 0; tried < this.sendingIssueIds.length; tried++) {
        if (this.stopping) return;
        const issueId = this.sendingIssueIds[this.nextIssue++ % this.sendingIssueIds.length]!;
        const issue = await this.loadIssue(issueId);
        if (issue?.status !== 'sending') continue;
        const claimed = await this.repo.claim(
          issueId,
          this.id,
          this.claimSize,
          this.options.config.LEASE_SECONDS,
        );
        if (claimed.length === 0) {
          // Nothing due in this issue: close it if it is done, whatever the other issues still have.
          if (await this.source.drained(issueId)) this.log('issue_sent', { issueId });
          continue;
        }
        for (const delivery of claimed) {
          this.held.add(delivery.id);
          this.queue.push(delivery);
        }
        return;
      }
    } catch (error) {
      if (this.database.report(error)) {
        // The outage is logged once by the gate. Claim nothing until the database is back; then
        // first commit what was sent meanwhile and renew the leases we hold, before another worker
        // could take them as abandoned.
        if (await this.database.waitUntilUp(this.stopSignal.signal)) {
          await this.flush();
          await this.renewLeases().catch(() => {});
        }
        return;
      }
      this.log('claim_failed', { error: (error as Error).message });
    }
    if (this.queue.length === 0) await this.idle();
  }

  private async refreshIssues(): Promise<void> {
    if (Date.now() - this.statusCheckedAt < STATUS_REFRESH_MS && this.sendingIssueIds.length > 0) return;
    this.statusCheckedAt = Date.now();
    this.sendingIssueIds = await this.source.sendingIds();
    const statuses = await this.source.statuses([...this.issues.keys()]);
    for (const [id, issue] of this.issues) {
      const status = statuses.get(id);
      // Forget issues that stopped sending, so a long-running worker does not keep every template
      // it ever sent; one that is resumed is loaded again.
      if (status !== 'sending') this.issues.delete(id);
      else issue.status = status;
    }
  }

  private async loadIssue(id: number): Promise<SendingIssue | undefined> {
    const known = this.issues.get(id);
    if (known) return known;
    const loaded = await this.source.load(id);
    if (!loaded) return undefined;
    this.issues.set(id, loaded);
    return loaded;
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.idleMs ?? 500);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private pendingResults(): number {
    return this.results.sent.length + this.results.retry.length + this.results.failed.length;
  }

  /** Commits the results gathered so far in one transaction (one at a time). */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pendingResults() === 0) return Promise.resolve();
    const batch = this.results;
    this.results = { sent: [], retry: [], failed: [] };
    this.flushing = this.repo
      .record(this.id, batch, this.options.transport.name === 'ses' ? 'ses' : 'smtp')
      .then(
        async () => {
          for (const list of [batch.sent, batch.retry, batch.failed])
            for (const r of list) this.held.delete(r.id);
          if (batch.failed.length > 0) this.failureCheckDue = true;
          // The per-issue counts grow by a few delta rows per commit; fold them now and then so
          // that reading them (metrics, issue status) stays a few rows.
          if (Date.now() - this.lastCompaction >= COMPACT_EVERY_MS) {
            this.lastCompaction = Date.now();
            await this.repo
              .compactCounts()
              .catch((error) => this.log('compact_counts_failed', { error: (error as Error).message }));
          }
          // The batch is committed: a failing check must never put it back (a re-recorded retry
          // could reset a delivery claimed again since, and send it twice). It is tried again later.
          if (this.failureCheckDue) {
            await this.checkFailureRate().catch((error) => {
              this.failureCheckDue = true;
              if (!this.database.report(error))
                this.log('failure_check_failed', { error: (error as Error).message });
            });
          }
        },
        async (error) => {
          // The database is away: keep the results and try again; the leases keep the rows ours.
          this.results.sent.push(...batch.sent);
          this.results.retry.push(...batch.retry);
          this.results.failed.push(...batch.failed);
          if (!this.database.report(error)) {
            this.log('record_failed', { error: (error as Error).message });
            await sleep(500);
          } else if (this.stopping) {
            // Stopping during an outage: try a few more times (flushUntilEmpty), then give up; the
            // leases run out and those deliveries are counted as crash resends.
            await sleep(500);
          } else {
            await this.database.waitUntilUp(this.stopSignal.signal);
          }
        },
      )
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  private async flushUntilEmpty(): Promise<void> {
    for (let attempt = 0; attempt < 20 && (this.pendingResults() > 0 || this.flushing); attempt++) {
      await (this.flushing ?? this.flush());
    }
    if (this.pendingResults() > 0) {
      this.log('results_not_recorded', {
        count: this.pendingResults(),
        reason: 'the database could not be reached while stopping; their leases will run out',
      });
    }
  }

  /** Pauses an issue whose share of permanent failures passed FAILURE_PAUSE_RATE. */
  private async checkFailureRate(): Promise<void> {
    // At most once a second: the count reads the issue's rows, which is not free on a big list.
    if (Date.now() - this.lastFailureCheck < 1000) return;
    this.lastFailureCheck = Date.now();
    this.failureCheckDue = false;
    for (const issue of this.issues.values()) {
      if (issue.status !== 'sending') continue;
      const { attempted, failed } = await this.repo.failureStats(issue.id);
      const limit = this.options.config.FAILURE_PAUSE_RATE;
      if (attempted >= FAILURE_SAMPLE && failed / attempted > limit) {
        await this.pauseIssue(
          issue,
          `${failed} of ${attempted} deliveries failed permanently (${Math.round((failed / attempted) * 100)} %, above FAILURE_PAUSE_RATE ${limit})`,
        );
      }
    }
  }

  private log(event: string, fields: Record<string, unknown> = {}): void {
    this.options.log?.(event, { workerId: this.id, ...fields });
  }
}

function asTransportError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  return new TransportError('transient', 'transport.unknown', (error as Error)?.message ?? String(error), {
    cause: error,
  });
}
