import { forTerminal } from '../core/terminal.text.ts';
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import type { Database } from '../db/db.types.ts';
import { type IssueStatusReport, type IssueSummary, IssuesService } from '../issues/issues.service.ts';
import { withContext } from './cli.context.ts';
import { printJson, table } from './cli.output.ts';

/**
 * The `issue` command group (the render engineer's `issue preview` lives in the same group).
 * What only sending needs (the worker loop, transports, MJML, the progress bar) is imported inside
 * the commands that send, so `issue status` and `issue ls` start without it.
 */
export function registerIssueCommands(issue: Command): void {
  issue
    .command('create <digest.md>')
    .description('create an issue from a digest for a list: a draft, or scheduled with --at')
    .requiredOption('--list <slug>', 'the list to send to')
    .option('--at <time>', 'schedule it: ISO 8601 date and time, e.g. 2026-12-01T09:00:00+08:00')
    .action(async (file: string, o: { list: string; at?: string }) => {
      await withContext(async ({ db, config }) => {
        const created = await new IssuesService(db, config).create({
          digestPath: file,
          listSlug: o.list,
          ...(o.at === undefined ? {} : { at: o.at }),
        });
        process.stderr.write(
          `created issue ${created.id} for ${created.listSlug}: ${created.status}${created.sendAt ? ` for ${created.sendAt.toISOString()}` : ''} — "${created.subject}"\n`,
        );
        console.log(created.id);
      });
    });

  issue
    .command('ls')
    .description('every issue with its status and progress')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withContext(async ({ db, config }) => {
        const issues = await new IssuesService(db, config).all();
        if (o.json) return printJson(issues);
        if (issues.length === 0)
          return console.log('no issues yet: digestmail issue create <digest.md> --list <slug>');
        console.log(
          table(
            ['id', 'list', 'status', 'send at', 'sent', 'failed', 'total', 'subject'],
            issues.map((i: IssueSummary) => [
              i.id,
              i.listSlug,
              i.status,
              i.sendAt?.toISOString() ?? '',
              i.sent,
              i.failed,
              i.total,
              i.subject,
            ]),
          ),
        );
      });
    });

  issue
    .command('schedule <id>')
    .description('send the issue at a given time')
    .requiredOption('--at <time>', 'ISO 8601 date and time, e.g. 2026-12-01T09:00:00+08:00')
    .action(async (id: string, o: { at: string }) => {
      await withContext(async ({ db, config }) => {
        const updated = await new IssuesService(db, config).schedule(id, o.at);
        console.log(`issue ${updated.id} scheduled for ${updated.sendAt?.toISOString()}`);
      });
    });

  for (const [verb, help] of [
    ['pause', 'stop sending (or hold a scheduled issue) until resumed'],
    ['resume', 'carry on sending a paused issue'],
    ['cancel', 'stop the issue for good'],
  ] as const) {
    issue
      .command(`${verb} <id>`)
      .description(help)
      .action(async (id: string) => {
        await withContext(async ({ db, config }) => {
          const updated = await new IssuesService(db, config)[verb](id);
          console.log(`issue ${updated.id} is ${updated.status}`);
        });
      });
  }

  issue
    .command('send <id>')
    .description('send now; with --wait this process sends it too and follows it to the end')
    .option(
      '--wait',
      'work as a sender until the issue is done, with a progress bar; exit 1 if anything failed',
    )
    .action(async (id: string, o: { wait?: boolean }) => {
      const code = await withContext(async ({ db, config }) => {
        const service = new IssuesService(db, config);
        const { issue: started, enqueued } = await service.send(id);
        process.stderr.write(
          enqueued > 0
            ? `issue ${started.id}: ${enqueued} deliveries queued\n`
            : `issue ${started.id} is already ${started.status}\n`,
        );
        if (!o.wait) return 0;
        return waitForIssue(db, config, service, started.id);
      });
      process.exitCode = code;
    });

  issue
    .command('status <id>')
    .description('status and delivery counts')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      await withContext(async ({ db, config }) => {
        const report = await new IssuesService(db, config).status(id);
        if (o.json) return printJson(statusJson(report));
        console.log(statusTable(report));
      });
    });

  issue
    .command('clicks <id>')
    .description('which stories readers clicked: unique human clicks per link, scanner clicks apart')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      await withContext(async ({ db, config }) => {
        const issue = await new IssuesService(db, config).require(id);
        const { ClicksService } = await import('../clicks/clicks.service.ts');
        const report = await new ClicksService(db).report(issue.id);
        if (o.json) {
          return printJson({
            issue: report.issue,
            delivered: report.delivered,
            human: report.human,
            scanner: report.scanner,
            links: report.links.map((l) => ({
              position: l.position,
              url: l.url,
              title: l.title,
              human: l.human,
              scanner: l.scanner,
            })),
          });
        }
        const share = (n: number) =>
          report.delivered > 0 ? `${((100 * n) / report.delivered).toFixed(1)} %` : '–';
        console.log(
          `issue ${report.issue}: ${report.human} of ${report.delivered} readers clicked (${share(report.human)}); ${report.scanner} messages were opened by link scanners`,
        );
        if (!issue.listTrackClicks && report.links.every((l) => l.human + l.scanner === 0)) {
          console.log(
            `list ${issue.listSlug} does not count clicks (digestmail list edit ${issue.listSlug} --track-clicks)`,
          );
        }
        console.log(
          table(
            ['#', 'story', 'domain', 'readers', 'share', 'scanners'],
            report.links.map((l) => [
              l.position,
              forTerminal(l.title).slice(0, 60),
              l.domain,
              l.human,
              share(l.human),
              l.scanner,
            ]),
          ),
        );
      });
    });

  issue
    .command('test <digest.md|id>')
    .description(
      'send a test now to any addresses: subject [TEST], unsubscribe links only show a notice, nothing recorded',
    )
    .requiredOption('--to <a@x.org,b@y.org>', 'where to send it')
    .option('--list <slug>', 'render a digest file for this list (needed when there are several)')
    .action(async (source: string, o: { to: string; list?: string }) => {
      await withContext(async ({ db, config }) => {
        const [{ createTransport }, { TestSendService }] = await Promise.all([
          import('../transports/transport.factory.ts'),
          import('../issues/issues.test-send.ts'),
        ]);
        const transport = createTransport(config);
        try {
          const sent = await new TestSendService(db, config, transport).send(source, o.to, o.list);
          for (const s of sent) console.log(`test sent to ${s.to} ${s.messageId} (${s.response})`);
        } finally {
          await transport.close();
        }
      });
    });
}

/** The JSON of `issue status --json`: the issue's state and exactly the documented count keys. */
export function statusJson({ issue, counts, bounces }: IssueStatusReport) {
  return {
    id: issue.id,
    list: issue.listSlug,
    subject: issue.subject,
    status: issue.status,
    pause_reason: issue.pauseReason,
    send_at: issue.sendAt,
    started_at: issue.startedAt,
    finished_at: issue.finishedAt,
    counts,
    bounces: bounces.map((b) => ({ ...b, diagnostic: forTerminal(b.diagnostic) })),
  };
}

export function statusTable({ issue, counts, bounces }: IssueStatusReport): string {
  const head = [
    `issue ${issue.id} — ${issue.subject}`,
    `list ${issue.listSlug}, ${issue.status}${issue.pauseReason ? ` (${issue.pauseReason})` : ''}`,
    issue.sendAt ? `send at ${issue.sendAt.toISOString()}` : '',
    issue.finishedAt ? `finished ${issue.finishedAt.toISOString()}` : '',
  ].filter(Boolean);
  const counted = table(
    ['count', 'n'],
    Object.entries(counts).map(([k, v]) => [k, v]),
  );
  if (bounces.length === 0) return `${head.join('\n')}\n\n${counted}`;
  // Why mail bounced: only address reasons suppress; the others are about our mail or the moment.
  const why = table(
    ['bounce reason', 'n', 'suppressed', 'status', 'latest diagnostic'],
    bounces.map((b) => [
      b.reason,
      b.count,
      b.hard ? 'yes' : 'no',
      b.status,
      forTerminal(b.diagnostic).replace(/ +/g, ' ').slice(0, 100),
    ]),
  );
  return `${head.join('\n')}\n\n${counted}\n\n${why}`;
}

/**
 * Works as a sender in this process until the issue is no longer sending, following it with a
 * progress bar. 0 when every delivery ended well; 1 when anything failed for good or the issue stopped.
 */
export async function waitForIssue(
  db: Kysely<Database>,
  config: Config,
  service: IssuesService,
  id: number,
): Promise<number> {
  const [{ startSending }, { createLogger }, { doneCount, SendProgress }] = await Promise.all([
    import('../issues/issues.runtime.ts'),
    import('./worker.commands.ts'),
    import('./issue.progress.ts'),
  ]);
  const logger = createLogger(config);
  const runtime = await startSending(db, config, {
    scheduler: false,
    // The progress bar tells the story; only what stops the issue is worth a log line here.
    log: (event, fields) => {
      if (event !== 'issue_sent') logger.warn(fields ?? {}, event);
    },
  });
  let report = await service.status(id);
  const progress = new SendProgress(report.counts.total);
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  let stop = false;
  void interrupted.then(() => {
    stop = true;
  });
  try {
    while (!stop) {
      report = await service.status(id);
      progress.update(report.counts);
      if (report.issue.status !== 'sending') break;
      await Promise.race([new Promise((r) => setTimeout(r, 250)), interrupted]);
    }
  } finally {
    progress.stop();
    await runtime.stop();
  }
  report = await service.status(id);
  console.log(statusTable(report));
  if (report.issue.status === 'sending') {
    process.stderr.write(`stopped following issue ${id}; it keeps sending in any running worker\n`);
    return 1;
  }
  if (report.issue.status !== 'sent') {
    process.stderr.write(
      `issue ${id} is ${report.issue.status}${report.issue.pauseReason ? `: ${report.issue.pauseReason}` : ''}\n`,
    );
    return 1;
  }
  if (report.counts.failed > 0) {
    process.stderr.write(
      `issue ${id}: ${report.counts.failed} of ${report.counts.total} deliveries failed permanently\n`,
    );
    return 1;
  }
  return doneCount(report.counts) === report.counts.total ? 0 : 1;
}
