import cliProgress from 'cli-progress';
import type { IssueCounts } from '../issues/issues.service.ts';

/** Deliveries that reached a verdict (sent, failed, skipped): what the progress bar counts as done. */
export function doneCount(c: IssueCounts): number {
  return c.total - c.queued - c.sending;
}

/**
 * Follows an issue while it sends: a cli-progress bar (sent/total, rate, ETA) on a terminal, and a
 * plain line every few seconds otherwise (logs, CI), since a redrawn bar is noise in a file.
 */
export class SendProgress {
  private readonly bar: cliProgress.SingleBar | undefined;
  private readonly startedAt = Date.now();
  private lastLine = 0;
  private lastDone = -1;
  private startDone: number | undefined;

  constructor(
    total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    if (stream.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          stream,
          format: 'sending [{bar}] {value}/{total} sent {percentage}% | {rate} msg/s | ETA {eta_formatted}',
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { rate: '0' });
    }
  }

  update(counts: IssueCounts): void {
    const done = doneCount(counts);
    this.startDone ??= done;
    const seconds = (Date.now() - this.startedAt) / 1000;
    const rate = seconds > 0 ? (done - this.startDone) / seconds : 0;
    if (this.bar) {
      this.bar.setTotal(counts.total);
      this.bar.update(done, { rate: rate.toFixed(0) });
      return;
    }
    if (done === this.lastDone || (Date.now() - this.lastLine < 3000 && done < counts.total)) return;
    this.lastLine = Date.now();
    this.lastDone = done;
    const eta = rate > 0 ? `${Math.ceil((counts.total - done) / rate)} s` : '?';
    this.stream.write(
      `sending: ${done}/${counts.total} done (${counts.sent + counts.delivered} sent, ${counts.failed} failed), ${rate.toFixed(0)} msg/s, ETA ${eta}\n`,
    );
  }

  stop(): void {
    this.bar?.stop();
  }
}
