import type { Readable } from 'node:stream';
import { isAppError } from '../core/errors.ts';
import { MimeLimitError } from './bounce-mail.parser.ts';

/**
 * How bounce mail reaches the classifier, whatever carried it (an MTA pipe, a maildir, an IMAP
 * mailbox): one size cap, and one rule for mail the parser refuses. Bounce mail is written by
 * strangers; none of it may cost more than a bounded amount of memory, and none of it may end as an
 * "internal error" — an MTA that sees a failing pipe command bounces the bounce, and a watcher that
 * stumbles on one message must go on with the next.
 */

/** Real bounces are a few KB (a returned message at most a few MB); past this a message is not read. */
export const MAX_BOUNCE_MAIL_BYTES = 10 * 1024 * 1024;

export interface IgnoredMail {
  result: 'ignored';
  reason: string;
}

export const TOO_LARGE: IgnoredMail = {
  result: 'ignored',
  reason: `too large (over ${MAX_BOUNCE_MAIL_BYTES / 1024 / 1024} MB), not read`,
};

/**
 * Runs `ingest` on one message, turning what the MIME parser refuses (too deeply nested, too many
 * parts: bounce-mail.parser.ts's MimeLimitError, or a stack overflow in a recursive walk) into an
 * `ignored` outcome. A database failure is still thrown: that is an outage, and the
 * message must be tried again, not dropped.
 */
export async function ingestWithinLimits<T>(
  raw: Buffer,
  ingest: (raw: Buffer) => Promise<T>,
): Promise<T | IgnoredMail> {
  if (raw.length > MAX_BOUNCE_MAIL_BYTES) return TOO_LARGE;
  try {
    return await ingest(raw);
  } catch (error) {
    const limit = parserLimit(error);
    if (limit) return { result: 'ignored', reason: `beyond the MIME parser's limits (${limit})` };
    throw error;
  }
}

/**
 * Input the parser could not read as mail at all (empty, no headers) is a user mistake on the
 * command line (`bounces ingest file`), but in a mailbox it is just one more stranger's message:
 * batch readers call this to turn it into an `ignored` outcome.
 */
export function unreadableMail(error: unknown): IgnoredMail | undefined {
  if (isAppError(error) && error.code.startsWith('bounces.'))
    return { result: 'ignored', reason: error.message };
  return undefined;
}

function parserLimit(error: unknown): string | undefined {
  if (error instanceof MimeLimitError) return error.message;
  if (error instanceof RangeError && /call stack/i.test(error.message)) return 'nested too deeply';
  return undefined;
}

/**
 * Reads a stream (an MTA's pipe) keeping at most `cap` bytes. Past the cap the rest is read and
 * dropped rather than left unread: an MTA whose pipe command exits before taking all of its input
 * sees a write error, and may bounce the bounce.
 */
export async function readCapped(
  stream: Readable | AsyncIterable<Buffer | string>,
  cap = MAX_BOUNCE_MAIL_BYTES,
): Promise<Buffer | 'too_large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of stream) {
    if (tooLarge) continue;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > cap) {
      tooLarge = true;
      chunks.length = 0;
      continue;
    }
    chunks.push(bytes);
  }
  return tooLarge ? 'too_large' : Buffer.concat(chunks, size);
}
