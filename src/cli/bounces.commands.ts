import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import {
  type IgnoredMail,
  ingestWithinLimits,
  MAX_BOUNCE_MAIL_BYTES,
  readCapped,
  TOO_LARGE,
} from '../bounces/bounce-mail.intake.ts';
import { BouncesService, type MailOutcome } from '../bounces/bounces.service.ts';
import type { EventOutcome } from '../bounces/bounces.types.ts';
import type { ImapWatcher, WatcherLog } from '../bounces/imap.watcher.ts';
import { ingestMaildir } from '../bounces/maildir.reader.ts';
import type { Config } from '../config/config.loader.ts';
import { invalid, notFound } from '../core/errors.ts';
import { maskingLogHooks } from '../core/secrets.text.ts';
import { forTerminal } from '../core/terminal.text.ts';
import type { Database } from '../db/db.types.ts';
import { parseVerpAddress } from '../render/verp.address.ts';
import { withContext } from './cli.context.ts';
import { table } from './cli.output.ts';

/** The bounce service as every mail input uses it (pipe, maildir, IMAP). */
export function bounceMailIngester(
  config: Config,
  db: Kysely<Database>,
): (raw: Buffer) => Promise<MailOutcome> {
  const service = new BouncesService(
    db,
    { softBounceLimit: config.SOFT_BOUNCE_LIMIT, softBounceDays: config.SOFT_BOUNCE_DAYS },
    (address) => parseVerpAddress(address, config.SECRET_KEY),
  );
  return (raw) => service.ingestMail(raw);
}

/**
 * The watcher of BOUNCE_IMAP_URL that `serve` and `worker` run beside their other work, or
 * undefined when no bounce mailbox is configured. The IMAP client is loaded only then: it costs about
 * a second of start-up, which `bounces ingest` (one process per bounce, from an MTA) must not pay.
 */
export async function bounceMailboxWatcher(
  config: Config,
  db: Kysely<Database>,
  log: WatcherLog,
): Promise<ImapWatcher | undefined> {
  if (!config.BOUNCE_IMAP_URL) return undefined;
  const { ImapWatcher, parseImapUrl } = await import('../bounces/imap.watcher.ts');
  return new ImapWatcher({
    mailbox: parseImapUrl(config.BOUNCE_IMAP_URL),
    processedFolder: config.BOUNCE_IMAP_FOLDER,
    db,
    ingest: bounceMailIngester(config, db),
    log,
  });
}

export function registerBounceCommands(program: Command): void {
  const bounces = program.command('bounces').description('asynchronous bounce mail (DSN) handling');

  bounces
    .command('ingest [file]')
    .description(
      'read one bounce message from a .eml file or "-" for stdin (e.g. piped from the MTA that receives the bounce address), or every message of a maildir',
    )
    .option('--maildir <dir>', 'ingest every message file in DIR/cur and DIR/new, in one process')
    .option('--verbose', 'with --maildir: one line per message, not only the summary')
    .action(async (file: string | undefined, options: { maildir?: string; verbose?: boolean }) => {
      if (options.maildir !== undefined && file !== undefined)
        throw invalid('bounces.input_ambiguous', 'give either a file (or "-") or --maildir DIR, not both');
      if (options.maildir !== undefined)
        return ingestMaildirCommand(options.maildir, options.verbose === true);
      if (file === undefined)
        throw invalid('bounces.input_missing', 'give a file, "-" for stdin, or --maildir DIR');
      const raw = await readInput(file);
      if (raw === 'too_large') {
        // Exit 0: piped from an MTA, a failure status would make it bounce the bounce.
        console.log(`ignored: ${TOO_LARGE.reason}; nothing changed`);
        return;
      }
      await withContext(async ({ config, db }) => {
        const outcome = await ingestWithinLimits(raw, bounceMailIngester(config, db));
        if (outcome.result !== 'processed') {
          console.log(forTerminal(`ignored: ${(outcome as IgnoredMail).reason}; nothing changed`));
          return;
        }
        for (const e of (outcome as Extract<MailOutcome, { result: 'processed' }>).events)
          console.log(forTerminal(describe(e)));
      });
    });

  bounces
    .command('ls')
    .description("recent bounces and complaints with their reason, status and the remote server's words")
    .option('--issue <id>', 'only those of this issue')
    .option('--reason <reason>', 'only this reason (userunknown, mailboxfull, blocked, spamdetected…)')
    .option('--limit <n>', 'how many, newest first', '50')
    .option('--json', 'one JSON array instead of a table')
    .action(async (options: { issue?: string; reason?: string; limit: string; json?: boolean }) => {
      const issueId = options.issue === undefined ? undefined : positive(options.issue, '--issue');
      const limit = positive(options.limit, '--limit');
      await withContext(async ({ db }) => {
        const service = new BouncesService(db, { softBounceLimit: 0, softBounceDays: 0 });
        const rows = await service.recentBounces({
          ...(issueId !== undefined ? { issueId } : {}),
          ...(options.reason !== undefined ? { reason: options.reason } : {}),
          limit,
        });
        // Addresses and diagnostics come from strangers' mail servers: stripped for the terminal.
        const safe = rows.map((r) => ({
          ...r,
          email: r.email === null ? null : forTerminal(r.email),
          diagnostic: r.diagnostic === null ? null : forTerminal(r.diagnostic),
          status: r.status === null ? null : forTerminal(r.status),
        }));
        if (options.json) {
          console.log(JSON.stringify(safe, null, 2));
          return;
        }
        if (safe.length === 0) {
          console.log('no bounces');
          return;
        }
        console.log(
          table(
            ['when', 'issue', 'address', 'type', 'reason', 'status', 'diagnostic'],
            safe.map((r) => [
              r.occurredAt.toISOString().slice(0, 19).replace('T', ' '),
              r.issueId ?? '',
              r.email ?? '(erased)',
              r.type.replace('_bounce', ''),
              r.reason ?? '',
              r.status ?? '',
              (r.diagnostic ?? '').slice(0, 120),
            ]),
          ),
        );
      });
    });

  bounces
    .command('watch')
    .description(
      'watch a bounce mailbox over IMAP until stopped (SIGINT/SIGTERM): ingest each message, then move it to a folder',
    )
    .requiredOption('--imap <url>', 'imaps://user:password@host/INBOX (user and password URL-encoded)')
    .option('--folder <name>', 'where ingested messages are moved (created when missing)')
    .option('--poll-seconds <n>', 'how often a server without IDLE is looked at', '60')
    .action(async (options: { imap: string; folder?: string; pollSeconds: string }) => {
      const { ImapWatcher, parseImapUrl } = await import('../bounces/imap.watcher.ts');
      const mailbox = parseImapUrl(options.imap);
      const pollSeconds = Number(options.pollSeconds);
      if (!Number.isInteger(pollSeconds) || pollSeconds < 1)
        throw invalid(
          'bounces.poll_invalid',
          `--poll-seconds: expected a whole number of seconds, at least 1 (got "${options.pollSeconds}")`,
        );
      await withContext(async ({ config, db }) => {
        // JSON lines on stderr, as `worker` logs (its module would load the whole sender here). pino
        // is loaded here, not at the top: `bounces ingest`, run once per bounce, never logs.
        const { default: pino } = await import('pino');
        const logger = pino(
          { level: config.LOG_LEVEL, base: { pid: process.pid }, hooks: maskingLogHooks },
          pino.destination(2),
        );
        const watcher = new ImapWatcher({
          mailbox,
          processedFolder: options.folder ?? config.BOUNCE_IMAP_FOLDER,
          db,
          ingest: bounceMailIngester(config, db),
          log: (level, event, fields) => logger[level](fields, event),
          pollIntervalMs: pollSeconds * 1000,
        });
        await watcher.start();
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await watcher.stop();
        logger.info({}, 'bounce_mailbox_stopped');
      });
    });
}

interface MaildirSummary {
  messages: number;
  processed: number;
  events: number;
  suppressed: number;
  notBounces: number;
  unmatched: number;
  ignored: number;
}

async function ingestMaildirCommand(dir: string, verbose: boolean): Promise<void> {
  await withContext(async ({ config, db }) => {
    const ingest = bounceMailIngester(config, db);
    const summary: MaildirSummary = {
      messages: 0,
      processed: 0,
      events: 0,
      suppressed: 0,
      notBounces: 0,
      unmatched: 0,
      ignored: 0,
    };
    const started = performance.now();
    summary.messages = await ingestMaildir(dir, ingest, (message, outcome) => {
      if (outcome.result === 'processed') {
        const events = (outcome as Extract<MailOutcome, { result: 'processed' }>).events;
        summary.processed++;
        summary.events += events.length;
        summary.suppressed += events.filter((e) => e.suppressed).length;
        if (verbose) for (const e of events) console.log(forTerminal(`${message.name}: ${describe(e)}`));
        return;
      }
      if (outcome.result === 'unmatched') summary.unmatched++;
      else if (outcome.result === 'ignored') summary.ignored++;
      else summary.notBounces++;
      if (verbose) console.log(forTerminal(`${message.name}: ignored: ${(outcome as IgnoredMail).reason}`));
    });
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? Math.round(summary.messages / seconds) : summary.messages;
    console.log(
      `${dir}: ${summary.messages} message(s) in ${seconds.toFixed(1)} s (${rate}/s): ` +
        `${summary.processed} bounce(s) applied (${summary.events} event(s), ${summary.suppressed} suppression(s)), ` +
        `${summary.notBounces} not a bounce, ${summary.unmatched} unmatched, ` +
        `${summary.ignored} ignored (too large, unreadable or beyond the parser's limits)`,
    );
  });
}

function positive(value: string, option: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1)
    throw invalid('bounces.bad_option', `${option} takes a positive whole number, not "${value}"`);
  return Number(value);
}

function describe(outcome: EventOutcome): string {
  const kind =
    outcome.event.type === 'hard_bounce'
      ? 'hard bounce'
      : outcome.event.type === 'complaint'
        ? 'complaint'
        : 'soft bounce';
  const where =
    outcome.deliveryId === null ? '' : ` (delivery ${outcome.deliveryId} of issue ${outcome.issueId})`;
  if (!outcome.recorded)
    return `${kind} for ${outcome.event.email}${where}: already recorded, nothing changed`;
  const suppressed = outcome.suppressed ? `; suppressed (${outcome.suppressed})` : '';
  return `${kind} for ${outcome.event.email}${where}: ${outcome.event.detail}${suppressed}`;
}

/** The message, or `too_large` past the cap (a file's size is checked before it is read). */
async function readInput(file: string): Promise<Buffer | 'too_large'> {
  if (file === '-') return readCapped(process.stdin);
  try {
    const stat = await fs.stat(file);
    if (stat.isFile() && stat.size > MAX_BOUNCE_MAIL_BYTES) return 'too_large';
    return await fs.readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound('bounces.file_not_found', `no such file: ${file}`);
    if (code === 'EISDIR') throw invalid('bounces.not_a_file', `${file} is a directory`);
    throw invalid('bounces.file_unreadable', `cannot read ${file}: ${(error as Error).message}`);
  }
}
