import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { ImapFlow } from 'imapflow';
import { AppError, invalid } from '../core/errors.ts';
import { maskCredentials } from '../core/secrets.text.ts';
import type { Database } from '../db/db.types.ts';
import {
  ingestWithinLimits,
  MAX_BOUNCE_MAIL_BYTES,
  TOO_LARGE,
  unreadableMail,
} from './bounce-mail.intake.ts';
import { type ImapMessageKey, ImapMessagesRepository } from './imap-messages.repository.ts';

/**
 * Watches a bounce mailbox over IMAP: every message that arrives is ingested once, then moved to a
 * folder (`Processed` by default) — never deleted, so nothing a person might still want to read is
 * lost. The server pushes new mail through IDLE where it can; otherwise, and as a safety net, the
 * mailbox is looked at every minute. Disconnects and database outages are waited out with a capped,
 * doubling backoff, with one log line when an outage starts and one when it ends.
 *
 * The IMAP protocol itself is imapflow's (a maintained client that handles literals, IDLE, MOVE and
 * its COPY+EXPUNGE fallback); this file only decides what to take, when, and what to remember.
 */

export interface ImapMailbox {
  secure: boolean;
  host: string;
  port: number;
  user: string;
  password: string;
  path: string;
}

/**
 * `imaps://user:password@host[:port]/MAILBOX` (TLS, port 993) or `imap://…` (port 143, STARTTLS
 * when the server offers it). User and password are URL-encoded (`%40` for an `@`). The mailbox
 * defaults to INBOX. Errors never repeat the password.
 */
export function parseImapUrl(text: string): ImapMailbox {
  const bad = (why: string) =>
    invalid(
      'bounces.imap_url_invalid',
      `invalid IMAP URL "${maskCredentials(text)}": ${why} (expected imaps://user:password@host/INBOX)`,
    );
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw bad('not a URL');
  }
  if (url.protocol !== 'imaps:' && url.protocol !== 'imap:') throw bad('the scheme must be imaps: or imap:');
  if (!url.hostname) throw bad('no host');
  if (!url.username || !url.password) throw bad('a user and a password are needed');
  let path: string;
  let user: string;
  let password: string;
  try {
    path = decodeURIComponent(url.pathname.replace(/^\/+/, '')) || 'INBOX';
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw bad('bad %-encoding');
  }
  const secure = url.protocol === 'imaps:';
  return {
    secure,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 993 : 143,
    user,
    password,
    path,
  };
}

/** The mailbox as logs and messages show it: the URL without its password. */
export function describeMailbox(m: ImapMailbox): string {
  const host = m.host.includes(':') ? `[${m.host}]` : m.host;
  return `${m.secure ? 'imaps' : 'imap'}://${encodeURIComponent(m.user)}@${host}:${m.port}/${m.path}`;
}

/** Only the fields the watcher reads of an ingest outcome (the bounce service's answer). */
export interface IngestOutcome {
  result: string;
  reason?: string;
  events?: readonly unknown[];
}

export type WatcherLog = (
  level: 'info' | 'warn' | 'error',
  event: string,
  fields: Record<string, unknown>,
) => void;

export interface ImapWatcherOptions {
  mailbox: ImapMailbox;
  /** Where ingested messages go; created when missing. */
  processedFolder?: string;
  db: Kysely<Database>;
  ingest: (raw: Buffer) => Promise<IngestOutcome>;
  log: WatcherLog;
  /** How often the mailbox is looked at without a push from the server. */
  pollIntervalMs?: number;
  /** First wait after a failure; doubled after each further failure up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * A claim older than this belongs to a watcher that died: another may take the message. So does a
   * message ingested that long ago and still not moved.
   */
  staleClaimSeconds?: number;
}

const ONE_MINUTE = 60_000;
const STOP_GRACE_MS = 5000;
const KEEP_DONE_DAYS = 90;

export class ImapWatcher {
  private readonly mailbox: ImapMailbox;
  private readonly folder: string;
  private readonly repo: ImapMessagesRepository;
  private readonly key: string;
  private readonly owner = randomUUID();
  private readonly pollMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly staleSeconds: number;
  private stopping = false;
  private client: ImapFlow | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: ImapWatcherOptions) {
    this.mailbox = options.mailbox;
    this.folder = options.processedFolder ?? 'Processed';
    this.repo = new ImapMessagesRepository(options.db);
    // The mailbox as the server names it, without the password: the key of what was taken.
    this.key = describeMailbox(this.mailbox);
    this.pollMs = options.pollIntervalMs ?? ONE_MINUTE;
    this.minBackoffMs = options.minBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? ONE_MINUTE;
    this.staleSeconds = options.staleClaimSeconds ?? 300;
  }

  /**
   * Connects and starts watching. Resolves once the first connection is up (or has failed for a
   * reason worth waiting out, which is logged); rejects only when the server refuses the login,
   * which no waiting will fix.
   */
  async start(): Promise<void> {
    let settle!: { resolve: () => void; reject: (error: unknown) => void };
    const first = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    this.running = this.run(settle);
    await first;
  }

  /**
   * Leaves IDLE, finishes the message in hand, logs out. A connection attempt or a command that
   * hangs (an unanswering server) is cut after a few seconds, so a stopping process never waits for
   * a network timeout.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    const cut = setTimeout(() => this.client?.close(), STOP_GRACE_MS);
    await this.running;
    clearTimeout(cut);
  }

  private wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async run(first: { resolve: () => void; reject: (error: unknown) => void }): Promise<void> {
    let failures = 0;
    let outage: { since: number; error: string } | undefined;
    let started = false;
    while (!this.stopping) {
      const client = this.connectClient();
      try {
        await client.connect();
        await this.prepare(client);
        if (outage) {
          this.options.log('info', 'bounce_mailbox_recovered', {
            mailbox: this.key,
            outageSeconds: Math.round((Date.now() - outage.since) / 1000),
            attempts: failures,
          });
          outage = undefined;
        }
        if (!started) {
          started = true;
          this.options.log('info', 'bounce_mailbox_watching', {
            mailbox: this.key,
            processedFolder: this.folder,
            push: client.capabilities.has('IDLE') ? 'IDLE' : `none, polling every ${this.pollMs / 1000} s`,
          });
          first.resolve();
        }
        failures = 0;
        await this.watch(client);
      } catch (error) {
        if (this.stopping) break;
        const message = this.mask(error);
        if (!started && (error as { authenticationFailed?: boolean }).authenticationFailed) {
          first.reject(
            new AppError(
              'bounces.imap_login_failed',
              `the IMAP server refused the login for ${this.key}: ${message}`,
            ),
          );
          await this.logout(client);
          return;
        }
        if (!outage) {
          outage = { since: Date.now(), error: message };
          this.options.log('warn', 'bounce_mailbox_outage', { mailbox: this.key, error: message });
        }
        if (!started) {
          // Keep trying in the background: a mail server that is down when we start is an outage.
          started = true;
          first.resolve();
        }
        failures++;
      }
      await this.logout(client);
      this.woken = false;
      if (!this.stopping) await this.sleep(this.backoff(failures));
    }
  }

  private connectClient(): ImapFlow {
    const client = new ImapFlow({
      host: this.mailbox.host,
      port: this.mailbox.port,
      secure: this.mailbox.secure,
      auth: { user: this.mailbox.user, pass: this.mailbox.password },
      // Our own log lines say what matters; imapflow's would be one per command.
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: 30_000,
    });
    // Without a listener an 'error' event would end the process; the failing command rejects too.
    // Events of a connection already given up must not cut the backoff short.
    const wake = () => {
      if (this.client === client) this.wake();
    };
    client.on('error', wake);
    client.on('close', wake);
    client.on('exists', wake);
    this.client = client;
    return client;
  }

  private async prepare(client: ImapFlow): Promise<void> {
    // Created before anything is taken, so a message is never ingested and then left unmovable.
    // STATUS, not LIST: imapflow adds the server's namespace prefix (`INBOX.Processed` on Courier
    // or Cyrus) to both, and not every server answers an existing folder's CREATE with ALREADYEXISTS.
    const exists = await client.status(this.folder, { messages: true }).catch(() => false as const);
    if (!exists) await client.mailboxCreate(this.folder);
    await client.mailboxOpen(this.mailbox.path);
    // Rows are needed only while their message may still be in the mailbox; months later, none is.
    await this.repo.forgetDoneBefore(this.key, KEEP_DONE_DAYS);
  }

  /** Takes what is there, then waits for the server's push (or the poll timer), until stopped. */
  private async watch(client: ImapFlow): Promise<void> {
    const push = client.capabilities.has('IDLE');
    while (!this.stopping) {
      this.woken = false;
      await this.drain(client);
      if (this.stopping) return;
      if (!client.usable) throw new Error('the server closed the connection');
      if (this.woken) continue;
      // The next command (drain's SEARCH) ends IDLE; imapflow sends DONE first.
      if (push) client.idle().catch(() => this.wake());
      await this.sleep(this.pollMs);
      if (!client.usable && !this.stopping) throw new Error('the server closed the connection');
    }
  }

  private async drain(client: ImapFlow): Promise<void> {
    const opened = client.mailbox;
    if (!opened) throw new Error(`the mailbox ${this.mailbox.path} is not open`);
    const uidValidity = Number(opened.uidValidity);
    const uids = (await client.search({ all: true }, { uid: true })) || [];
    if (uids.length === 0) return;
    const sizes = new Map<number, number>();
    // Sizes first, in one command: a message over the cap is never downloaded.
    for await (const message of client.fetch(uids, { uid: true, size: true }, { uid: true })) {
      sizes.set(message.uid, message.size ?? 0);
    }
    for (const uid of [...uids].sort((a, b) => a - b)) {
      if (this.stopping) return;
      await this.take(client, { mailbox: this.key, uidValidity, uid }, sizes.get(uid) ?? 0);
    }
  }

  private async take(client: ImapFlow, key: ImapMessageKey, size: number): Promise<void> {
    const claim = await this.repo.claim(key, this.owner, this.staleSeconds);
    if (claim === 'busy') return;
    if (claim === 'mine') {
      let outcome: IngestOutcome;
      try {
        outcome = await this.ingestOne(client, key.uid, size);
      } catch (error) {
        await this.repo.release(key, this.owner).catch(() => {});
        throw error;
      }
      if (outcome.result === 'gone') {
        await this.repo.release(key, this.owner);
        return;
      }
      const events = outcome.events?.length ?? 0;
      await this.repo.finish(key, outcome.result, outcome.reason ?? `${events} event(s)`);
      this.options.log('info', 'bounce_mail_ingested', {
        mailbox: this.key,
        uid: key.uid,
        result: outcome.result,
        ...(outcome.reason ? { reason: outcome.reason } : {}),
        events,
      });
    }
    // Moved, never deleted. A message taken before ("done") that is still here was ingested by a
    // watcher that stopped before moving it: it is moved now, not ingested again.
    await client.messageMove(String(key.uid), this.folder, { uid: true });
  }

  private async ingestOne(client: ImapFlow, uid: number, size: number): Promise<IngestOutcome> {
    if (size > MAX_BOUNCE_MAIL_BYTES) return TOO_LARGE;
    const message = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
    // Expunged by someone else meanwhile: nothing to take.
    const source = message ? message.source : undefined;
    if (!source) return { result: 'gone' };
    try {
      return await ingestWithinLimits(source, this.options.ingest);
    } catch (error) {
      const ignored = unreadableMail(error);
      if (ignored) return ignored;
      throw error;
    }
  }

  private backoff(failures: number): number {
    if (failures === 0) return 0;
    const delay = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** (failures - 1));
    // Up to a fifth less, so several watchers do not all knock at the same moment.
    return Math.round(delay * (1 - Math.random() * 0.2));
  }

  /** Waits `ms`, or less when woken (new mail, a closed connection, stop()). */
  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.woken || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeUp = undefined;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private async logout(client: ImapFlow): Promise<void> {
    if (this.client === client) this.client = undefined;
    if (client.usable) await client.logout().catch(() => client.close());
    else client.close();
  }

  private mask(error: unknown): string {
    const e = error as { message?: string; responseText?: string; code?: string };
    const text = e?.responseText ? `${e.message} (${e.responseText})` : (e?.message ?? String(error));
    // The server may quote what it was sent: the password is masked wherever it appears.
    return maskCredentials(text).split(this.mailbox.password).join('***');
  }
}
