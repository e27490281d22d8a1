import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { invalid, notFound } from '../core/errors.ts';
import {
  type IgnoredMail,
  ingestWithinLimits,
  MAX_BOUNCE_MAIL_BYTES,
  TOO_LARGE,
  unreadableMail,
} from './bounce-mail.intake.ts';

/**
 * Reads a maildir (the folder layout Postfix, Dovecot, Exim and fetchmail deliver into: one message
 * per file in `new/` and `cur/`, `tmp/` for files still being written) so that a batch of bounces is
 * ingested by one process, instead of one process start-up per message when an MTA pipes each one.
 * The files are only read, never moved or deleted: ingesting the same maildir again records nothing
 * twice (every event is keyed by the report it came from).
 */

export interface MaildirMessage {
  /** `new/…` or `cur/…`, relative to the maildir. */
  name: string;
  path: string;
}

/** Message files of `cur/` and `new/`, in name order (maildir names start with the delivery time). */
export async function listMaildir(dir: string): Promise<MaildirMessage[]> {
  const stat = await fs.stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw notFound('bounces.maildir_not_found', `no such folder: ${dir}`);
    throw invalid('bounces.maildir_unreadable', `cannot read ${dir}: ${error.message}`);
  });
  if (!stat.isDirectory()) throw invalid('bounces.not_a_maildir', `${dir} is not a folder`);
  const messages: MaildirMessage[] = [];
  let folders = 0;
  for (const sub of ['cur', 'new']) {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(join(dir, sub), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw invalid(
        'bounces.maildir_unreadable',
        `cannot read ${join(dir, sub)}: ${(error as Error).message}`,
      );
    }
    folders++;
    for (const entry of entries) {
      // Dot files are not messages (Dovecot keeps none here, but editors and rsync leave them).
      if (entry.name.startsWith('.') || !entry.isFile()) continue;
      messages.push({ name: `${sub}/${entry.name}`, path: join(dir, sub, entry.name) });
    }
  }
  if (folders === 0)
    throw invalid('bounces.not_a_maildir', `${dir} has neither cur/ nor new/: it is not a maildir`);
  return messages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** One message's outcome: what the ingest function answered, or why it was not read. */
export type MaildirOutcome<T> = T | IgnoredMail;

/**
 * Ingests every message of the maildir, a few at a time so that database round trips overlap, and
 * reports each outcome in file order of completion. A database failure stops the batch (thrown);
 * a message that cannot be read as mail is an `ignored` outcome and the batch goes on.
 */
export async function ingestMaildir<T>(
  dir: string,
  ingest: (raw: Buffer) => Promise<T>,
  onMessage: (message: MaildirMessage, outcome: MaildirOutcome<T>) => void,
  options: { concurrency?: number } = {},
): Promise<number> {
  const messages = await listMaildir(dir);
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (failure === undefined && next < messages.length) {
      const message = messages[next++]!;
      try {
        onMessage(message, await readAndIngest(message.path, ingest));
      } catch (error) {
        failure ??= error;
      }
    }
  };
  // A handful of lanes: enough to hide round-trip latency, few enough for the default pool of 10.
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, lane));
  if (failure !== undefined) throw failure;
  return messages.length;
}

async function readAndIngest<T>(
  path: string,
  ingest: (raw: Buffer) => Promise<T>,
): Promise<MaildirOutcome<T>> {
  let raw: Buffer;
  try {
    const handle = await fs.open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_BOUNCE_MAIL_BYTES) return TOO_LARGE;
      raw = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    // A mail client may move a file from new/ to cur/ (or delete it) while we read.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { result: 'ignored', reason: 'the file went away before it was read' };
    throw error;
  }
  try {
    return await ingestWithinLimits(raw, ingest);
  } catch (error) {
    const ignored = unreadableMail(error);
    if (ignored) return ignored;
    throw error;
  }
}
