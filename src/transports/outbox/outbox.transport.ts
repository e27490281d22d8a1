import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { type OutgoingMessage, type SendResult, type Transport, TransportError } from '../transport.types.ts';

/**
 * Writes each message as an .eml file instead of sending it: the zero-setup transport for trying
 * digestmail and for looking at exactly what would have gone out. Files are written under a temporary
 * name and renamed, so a reader of the folder never sees half a message.
 */
export class OutboxTransport implements Transport {
  readonly name = 'outbox' as const;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
    // Messages carry live unsubscribe and preference links: owner-only, whatever the umask.
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const stem = `${new Date().toISOString().replace(/[:.]/g, '-')}-${fileSafe(message)}`;
    const file = join(this.dir, `${stem}.eml`);
    const temp = join(this.dir, `.${stem}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await fs.writeFile(temp, message.raw, { mode: 0o600 });
      await fs.rename(temp, file);
    } catch (error) {
      await fs.rm(temp, { force: true }).catch(() => {});
      const code = (error as NodeJS.ErrnoException).code;
      // Too many open files passes by itself. A full disk, a folder we may not write to, or one that
      // is gone will not until someone acts: the issue pauses with the reason (retrying would only
      // burn every delivery's attempts), and `issue resume` carries on once it is fixed.
      const kind = code === 'EMFILE' || code === 'ENFILE' ? 'transient' : 'fatal';
      const why = DISK_FAULTS[code ?? ''] ?? 'cannot write the message';
      throw new TransportError(
        kind,
        `outbox.${(code ?? 'write').toLowerCase()}`,
        `${why} (${this.dir}): ${(error as Error).message}`,
        { cause: error },
      );
    }
    return { providerMessageId: file, response: `written to ${file}` };
  }

  async close(): Promise<void> {}
}

/** Plain words for the disk faults an operator has to fix, as `issue status` shows them. */
const DISK_FAULTS: Record<string, string> = {
  ENOSPC: 'the disk holding the outbox folder is full',
  EDQUOT: 'the disk quota of the outbox folder is used up',
  EACCES: 'the outbox folder may not be written to',
  EPERM: 'the outbox folder may not be written to',
  EROFS: 'the outbox folder is on a read-only file system',
  ENOENT: 'the outbox folder is gone',
  ENOTDIR: 'the outbox folder is not a folder',
};

function fileSafe(message: OutgoingMessage): string {
  const recipient = (message.to[0] ?? 'unknown').replace(/[^A-Za-z0-9@._+-]/g, '_').slice(0, 80);
  const id = message.tags?.deliveryId ?? randomBytes(3).toString('hex');
  return `${message.tags?.kind ?? 'mail'}-${id}-${recipient}`;
}
