/**
 * One place that knows whether something we depend on (the database, the mail server, an IMAP
 * server) can be reached at all, shared by every loop of a process that uses it.
 *
 * Why a gate and not a retry around each call: during an outage every loop would otherwise retry on
 * its own schedule and log each failure (a line per claim, per flush, per tick); callers of one
 * process would also disagree about whether the outage is over. Here the first caller that meets an
 * outage closes the gate (one log line), the gate alone probes with capped backoff, and when a probe
 * answers it opens for everyone at once (one log line with how long it lasted).
 *
 * Hand-written because the retry libraries on npm retry one call; none shares one "is it up" state
 * between loops with a single probe.
 */

export interface OutageGateOptions {
  /** What is watched, as the log lines name it: "database", "smtp", "ses", "imap". */
  name: string;
  /** Asks the resource for a sign of life; resolves when it answers. */
  probe: () => Promise<unknown>;
  /** Whether an error says the resource cannot be reached (not that it refused this one request). */
  isOutage: (error: unknown) => boolean;
  /** First wait between probes; doubled per failed probe up to capMs. */
  baseMs?: number;
  /** The longest wait between probes: the most a recovery can go unnoticed. */
  capMs?: number;
}

export type OutageEvent =
  | { event: 'outage_started'; name: string; error: string }
  | { event: 'outage_ended'; name: string; downMs: number; probes: number };

/** The delay before retry number `attempt` (0-based): base × 2^attempt, capped, with ±20 % jitter. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  const plain = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(plain * (0.8 + Math.random() * 0.4));
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

export class OutageGate {
  readonly name: string;
  /** Receives the two lines of an outage; set by whoever owns the process's logger. */
  onEvent: (event: OutageEvent) => void = () => {};
  private readonly options: Required<Omit<OutageGateOptions, 'name'>>;
  private downSince: number | undefined;
  private waiters = new Set<() => void>();
  private probing: Promise<void> | undefined;
  private readonly closing = new AbortController();

  constructor(options: OutageGateOptions) {
    this.name = options.name;
    this.options = { baseMs: 250, capMs: 2000, ...options };
  }

  get up(): boolean {
    return this.downSince === undefined;
  }

  /** When the outage began (epoch ms), or undefined while up. */
  get since(): number | undefined {
    return this.downSince;
  }

  /** Whether the error is an outage of this resource (and if so, the gate is now closed). */
  report(error: unknown): boolean {
    if (!this.options.isOutage(error)) return false;
    if (this.downSince === undefined && !this.closing.signal.aborted) {
      this.downSince = Date.now();
      this.onEvent({ event: 'outage_started', name: this.name, error: messageOf(error) });
      this.probing = this.probeUntilUp();
    }
    return true;
  }

  /** Whether the error is an outage of this resource, without closing the gate. */
  isOutage(error: unknown): boolean {
    return this.options.isOutage(error);
  }

  /**
   * Resolves true once the resource is up (at once if it is), false if the signal aborted first or
   * the gate was closed for good.
   */
  waitUntilUp(signal?: AbortSignal): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        this.waiters.delete(opened);
        signal?.removeEventListener('abort', aborted);
        resolve(value);
      };
      const opened = () => done(this.up);
      const aborted = () => done(false);
      if (signal?.aborted || this.closing.signal.aborted) return done(false);
      signal?.addEventListener('abort', aborted, { once: true });
      this.waiters.add(opened);
    });
  }

  /**
   * Runs `work`, and when it fails because of an outage, waits for the end of the outage and runs
   * it again: for writes that must not be lost (a result that was already sent). Other errors, and
   * an abort while waiting, are thrown.
   */
  async retry<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (;;) {
      try {
        return await work();
      } catch (error) {
        if (!this.report(error)) throw error;
        if (!(await this.waitUntilUp(signal))) throw error;
      }
    }
  }

  /** Stops probing and releases every waiter (with false): the process is shutting down. */
  async close(): Promise<void> {
    this.closing.abort();
    this.release();
    await this.probing;
  }

  private async probeUntilUp(): Promise<void> {
    const { probe, baseMs, capMs } = this.options;
    for (let attempt = 0; ; attempt++) {
      await sleep(backoffMs(attempt, baseMs, capMs), this.closing.signal);
      if (this.closing.signal.aborted) return;
      try {
        await probe();
      } catch (error) {
        // Any answer that is not an outage (a refused login, a bad query) means it can be reached:
        // the callers meet that error themselves and deal with it as they would without an outage.
        if (this.options.isOutage(error)) continue;
      }
      const downMs = Date.now() - (this.downSince ?? Date.now());
      this.downSince = undefined;
      this.probing = undefined;
      this.onEvent({ event: 'outage_ended', name: this.name, downMs, probes: attempt + 1 });
      this.release();
      return;
    }
  }

  private release(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function messageOf(error: unknown): string {
  const e = error as { code?: string; message?: string };
  const text = e?.message || String(error);
  return e?.code && !text.includes(e.code) ? `${e.code}: ${text}` : text;
}
