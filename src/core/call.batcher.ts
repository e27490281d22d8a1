/**
 * Group commit for a hot write: calls that arrive while the previous batch is still on its way to
 * the database wait and go together in the next one, in one round trip and one transaction. There
 * is no timer: a call that finds nothing in flight is sent at once (alone, so a quiet server adds no
 * latency), and under load the batches grow by themselves to what arrived during one round trip.
 * A busy route thereby pays the database's per-statement and per-commit cost once per batch
 * instead of once per request, which is where most of a small write's CPU goes.
 *
 * Each caller gets its own element of the batch's result. If the batch fails, every call in it
 * fails with that error (the caller decides what a failed write means, as it would for one call).
 */
export class CallBatcher<I, O> {
  private waiting: { input: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;

  /**
   * @param send writes one batch; must return one result per input, in order.
   * @param options.maxBatch the most calls sent together.
   * @param options.concurrency how many batches may be on their way at once (e.g. a few of the
   *   pool's connections, so one slow batch does not hold every caller).
   */
  constructor(
    private readonly send: (inputs: I[]) => Promise<O[]>,
    private readonly options: { maxBatch: number; concurrency: number },
  ) {}

  call(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.concurrency && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxBatch);
      this.inFlight++;
      this.send(batch.map((c) => c.input)).then(
        (results) => {
          if (results.length !== batch.length) {
            const error = new Error(`a batch of ${batch.length} calls returned ${results.length} results`);
            for (const c of batch) c.reject(error);
          } else {
            for (const [i, c] of batch.entries()) c.resolve(results[i]!);
          }
          this.done();
        },
        (error: unknown) => {
          for (const c of batch) c.reject(error);
          this.done();
        },
      );
    }
  }

  private done(): void {
    this.inFlight--;
    this.pump();
  }
}
