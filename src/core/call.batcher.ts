/**
 * Group commit for a hot write: calls that arrive while the previous batch is still on its way to
 * the database wait and go together in the next one, in one round trip and one transaction. There
 * is no timer: a call that finds nothing in flight is sent at once (alone, so a quiet server adds no
 * latency), and under load the batches grow by themselves to what arrived during one round trip.
 * A busy route thereby pays the database's per-statement and per-commit cost once per batch
 * instead of once per request, which is where most of a small write's CPU goes.
 *
 * Each caller gets its own element of the batch's result. If a batch of several calls fails, each
 * of its calls is sent again alone, so one bad call (or a deadlock with another writer) never fails
 * its neighbours; a call that fails alone fails with its own error.
 */
interface Waiting<I, O> {
  input: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

export class CallBatcher<I, O> {
  private waiting: Waiting<I, O>[] = [];
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
      this.sendBatch(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async sendBatch(batch: Waiting<I, O>[]): Promise<void> {
    let results: O[];
    try {
      results = await this.send(batch.map((c) => c.input));
    } catch (error) {
      if (batch.length === 1) batch[0]!.reject(error);
      else await Promise.all(batch.map((c) => this.sendBatch([c])));
      return;
    }
    if (results.length !== batch.length) {
      const error = new Error(`a batch of ${batch.length} calls returned ${results.length} results`);
      for (const c of batch) c.reject(error);
      return;
    }
    for (const [i, c] of batch.entries()) c.resolve(results[i]!);
  }
}
