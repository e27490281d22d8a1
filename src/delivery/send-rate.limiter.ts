import type { Kysely } from 'kysely';
import type { OutageGate } from '../core/outage.gate.ts';
import { databaseHealth } from '../db/db.health.ts';
import type { Database } from '../db/db.types.ts';
import { SendRateRepository } from './send-rate.repository.ts';

/**
 * SEND_RATE for all workers together. Tokens come from one row in PostgreSQL (see
 * send-rate.repository.ts) in small handfuls, so a worker makes a few database round trips a second
 * rather than one per message, and the sum over every worker never exceeds the rate by more than the
 * handfuls each one holds (at most a quarter of a second's worth).
 */
export class SendRateLimiter {
  private readonly repo: SendRateRepository;
  private readonly burst: number;
  private local = 0;
  private waiting = 0;
  private refilling: Promise<void> | undefined;
  private pausedUntil = 0;
  private stopped = false;
  private readonly stopping = new AbortController();
  private readonly database: OutageGate;

  constructor(
    db: Kysely<Database>,
    private readonly rate: number,
    private readonly bucket = 'send',
  ) {
    this.repo = new SendRateRepository(db);
    this.database = databaseHealth(db);
    this.burst = Math.max(1, rate / 4);
  }

  /** Resolves when one message may be sent. */
  async take(): Promise<void> {
    this.waiting++;
    try {
      while (this.local < 1) {
        if (this.stopped) throw new Error('the rate limiter was stopped');
        this.refilling ??= this.refill().finally(() => {
          this.refilling = undefined;
        });
        try {
          await this.refilling;
        } catch (error) {
          // The shared bucket lives in the database: while it is unreachable, nobody sends.
          if (!this.database.report(error)) throw error;
          await this.database.waitUntilUp(this.stopping.signal);
        }
      }
      this.local--;
    } finally {
      this.waiting--;
    }
  }

  /**
   * The provider throttled us: every worker slows down (the shared factor halves) and this one waits
   * for as long as the provider asked, or a second.
   */
  async throttled(retryAfterMs?: number): Promise<void> {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + (retryAfterMs ?? 1000));
    this.local = 0;
    await this.repo.slowDown(this.bucket);
  }

  stop(): void {
    this.stopped = true;
    this.stopping.abort();
  }

  private async refill(): Promise<void> {
    const pause = this.pausedUntil - Date.now();
    if (pause > 0) return sleep(pause);
    // Ask for what the waiting senders need, in handfuls of up to ~50 ms of sending.
    const wanted = Math.max(
      1,
      Math.min(Math.floor(this.burst), Math.max(this.waiting, Math.ceil(this.rate / 20))),
    );
    const grant = await this.repo.take(this.bucket, wanted, this.rate, this.burst);
    this.local += grant.granted;
    if (grant.granted === 0) {
      const missing = 1 - grant.left;
      await sleep(Math.min(1000, Math.max(5, (missing / grant.effectiveRate) * 1000)));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
