import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import type { OutageGate } from '../core/outage.gate.ts';
import { databaseHealth } from '../db/db.health.ts';
import type { Database } from '../db/db.types.ts';
import { retryDelayMs } from './retry.policy.ts';
import { MessageBuilder } from '../render/message.builder.ts';
import { renderSignInMail } from '../render/sign-in-mail.ts';
import { renderSystemMailParts } from '../render/system-mail.ts';
import { type OutgoingMessage, type Transport, TransportError } from '../transports/transport.types.ts';
import { maskEmail } from '../core/email-address.ts';
import {
  type HandedOverMail,
  type OutboxMessage,
  type Recipients,
  SystemMailService,
} from '../subscriptions/system-mail.service.ts';
import { signConfirm, signPreferences, signUnsubscribe } from '../core/reader-tokens.ts';
import type { TokenSigner } from '../core/tokens.ts';

export interface OutboxSenderLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface OutboxSenderOptions {
  db: Kysely<Database>;
  config: Config;
  transport: Transport;
  signer: TokenSigner;
  /** Messages claimed at once. */
  batchSize?: number;
  /** How long to sleep when nothing is due (a signup in this process wakes it at once). */
  idleMs?: number;
  /** Seconds of the first retry; doubled per attempt (see retry.policy). */
  retryBaseSeconds?: number;
  log?: OutboxSenderLog;
}

const silent: OutboxSenderLog = { info: () => {}, warn: () => {} };

/** A mail the transport took, to be recorded as sent with its Message-ID. */
interface SentMail {
  id: number;
  messageId: string;
  fields: Record<string, unknown>;
}

/**
 * Drains the transactional outbox: confirmation, welcome and goodbye mail. Rows are claimed with a
 * lease (SKIP LOCKED), so any number of senders in any number of processes share the work and a
 * sender that dies loses nothing. Each mail is rendered (templates compiled once and cached), built
 * and handed to the transport; a transient failure is retried with exponential backoff up to
 * MAX_ATTEMPTS, a permanent one (the address does not exist) is final.
 */
export class OutboxSender {
  /** The outbox and its readers belong to subscriptions/: reached through its service only. */
  private readonly outbox: SystemMailService;
  private readonly builder: MessageBuilder;
  private readonly log: OutboxSenderLog;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly database: OutageGate;
  private stopping = new AbortController();
  /** Mails handed over by this process's signups (take), not yet sent. */
  private handedOver: HandedOverMail[] = [];
  private sendingHandedOver: Promise<void> | undefined;

  constructor(private readonly options: OutboxSenderOptions) {
    this.outbox = new SystemMailService(options.db);
    this.builder = new MessageBuilder(options.config, options.signer);
    this.log = options.log ?? silent;
    this.database = databaseHealth(options.db);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = new AbortController();
    this.loop = this.run();
  }

  /** Finishes the batch in hand, then stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    this.wakeUp?.();
    await Promise.all([this.loop, this.sendingHandedOver]);
  }

  /**
   * Sends a mail this process wrote already leased to itself (see HandedOverMail), without claiming
   * it back from the database. Mails handed over while others are being sent go together next.
   * A stopped sender takes nothing: the lease runs out and a sender claims the mail.
   */
  take(mail: HandedOverMail): void {
    if (!this.running) return;
    this.handedOver.push(mail);
    this.sendingHandedOver ??= this.sendHandedOver().finally(() => {
      this.sendingHandedOver = undefined;
    });
  }

  private async sendHandedOver(): Promise<void> {
    const batchSize = this.options.batchSize ?? 20;
    while (this.handedOver.length > 0 && this.running) {
      const now = Date.now();
      // Past half its lease a mail is left to a claim: sending it now could race the claim's sender.
      const batch = this.handedOver
        .splice(0, batchSize)
        .filter((mail) => now - mail.handedAt < (mail.leaseSeconds * 1000) / 2);
      const recipients: Recipients = { readers: new Map(), lists: new Map() };
      for (const mail of batch) {
        recipients.readers.set(mail.reader.id, mail.reader);
        for (const list of mail.lists) recipients.lists.set(list.id, list);
      }
      await this.deliverAll(
        batch.map((mail) => mail.message),
        recipients,
      );
    }
  }

  /** Something was queued: look now instead of after the idle sleep. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Claims one batch and settles every message in it; returns how many were claimed. */
  async drainOnce(): Promise<number> {
    const batch = await this.outbox.claim(this.options.batchSize ?? 20, this.options.config.LEASE_SECONDS);
    if (batch.length === 0) return 0;
    await this.deliverAll(batch, await this.outbox.recipients(batch));
    return batch.length;
  }

  /**
   * Sends and settles each message, SEND_CONCURRENCY at a time. The mails sent are recorded
   * together once the batch is through: one statement and one commit for the batch, not one per
   * mail. A crash in between sends those mails again when their leases run out (at least once, as
   * any outbox does); a failed or deferred mail is settled at once.
   */
  private async deliverAll(batch: OutboxMessage[], recipients: Recipients): Promise<void> {
    const concurrency = Math.max(1, this.options.config.SEND_CONCURRENCY);
    const sent: SentMail[] = [];
    for (let i = 0; i < batch.length; i += concurrency) {
      const results = await Promise.all(
        batch.slice(i, i + concurrency).map((message) => this.deliver(message, recipients)),
      );
      for (const result of results) if (result) sent.push(result);
    }
    if (sent.length === 0) return;
    // The records must not be lost to an outage, or the mails would go out again.
    await this.settle(() => this.outbox.markSentMany(sent));
    for (const mail of sent) this.log.info(mail.fields, 'outbox: sent');
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.drainOnce();
      } catch (error) {
        if (this.database.report(error)) {
          // Logged once by the gate; nothing is claimed until the database is back.
          await this.database.waitUntilUp(this.stopping.signal);
          continue;
        }
        this.log.warn({ err: (error as Error).message }, 'outbox: claim failed');
      }
      if (claimed === 0 && this.running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.idleMs ?? 1000);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = undefined;
      }
    }
  }

  /** Sends one message and settles it unless it was sent: then says so, for deliverAll to record. */
  private async deliver(message: OutboxMessage, recipients: Recipients): Promise<SentMail | undefined> {
    const fields = { outboxId: message.id, kind: message.kind, to: maskEmail(message.toEmail) };
    // Rendering is CPU work on the event loop the web server shares in `digestmail serve`: let the
    // requests waiting for it go first, so a burst of signups is not slowed by its own mail.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      const outgoing = await this.compose(message, recipients);
      if (typeof outgoing === 'string') {
        await this.settle(() => this.outbox.markFailed(message.id, outgoing));
        this.log.info({ ...fields, reason: outgoing }, 'outbox: not sent');
        return;
      }
      await this.options.transport.send(outgoing);
      return {
        id: message.id,
        messageId: outgoing.messageId,
        fields: { ...fields, messageId: outgoing.messageId },
      };
    } catch (error) {
      const permanent = error instanceof TransportError && error.kind === 'permanent';
      const reason =
        error instanceof TransportError ? `${error.code}: ${error.message}` : (error as Error).message;
      if (this.database.report(error)) return; // not sent; its lease runs out and it is tried again
      // An unreachable mail server fails nobody, however long it stays away.
      const unreachable = error instanceof TransportError && error.unreachable;
      if (permanent || (message.attempts >= this.options.config.MAX_ATTEMPTS && !unreachable)) {
        await this.settle(() => this.outbox.markFailed(message.id, reason));
        this.log.warn({ ...fields, attempts: message.attempts, err: reason }, 'outbox: failed for good');
        return;
      }
      const delay =
        error instanceof TransportError && error.retryAfterMs
          ? error.retryAfterMs
          : retryDelayMs(message.attempts, this.options.retryBaseSeconds ?? 30);
      await this.settle(() => this.outbox.markRetry(message.id, reason, delay));
      this.log.warn(
        { ...fields, attempts: message.attempts, retryInMs: delay, err: reason },
        'outbox: will retry',
      );
    }
  }

  /** A write of a result, retried through a database outage (until the sender is stopped). */
  private async settle(write: () => Promise<void>): Promise<void> {
    await this.database.retry(write, this.stopping.signal);
  }

  /** The message, or why it must not be sent. */
  private async compose(message: OutboxMessage, recipients: Recipients): Promise<OutgoingMessage | string> {
    if (message.kind === 'sign_in') {
      if (!message.payload.url) return 'the sign-in mail has no link';
      const mail = renderSignInMail(message.payload.url, message.payload.lang, this.options.config);
      return this.builder.buildTransactional({ to: message.toEmail, ...mail, kind: message.kind });
    }
    if (message.subscriberId === null) return 'the subscriber no longer exists';
    const reader = recipients.readers.get(message.subscriberId);
    // In the order the lists are shown everywhere else: by name.
    const lists = message.payload.lists
      .flatMap((id) => recipients.lists.get(id) ?? [])
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
    if (!reader) return 'the subscriber no longer exists';
    if (lists.length === 0) return 'the lists no longer exist';
    // may not be mailed since the mail was queued (a bounce, a complaint, an erasure, a blocklisting)
    if (reader.unmailable) return `the address is suppressed (${reader.unmailable})`;
    const { config, signer } = this.options;
    const lang = message.payload.lang;
    const base = config.PUBLIC_URL;
    const query = `?lang=${encodeURIComponent(lang)}`;
    // Signed only for the mails that carry them (a confirmation carries neither).
    const preferencesUrl = () => `${base}/preferences/${signPreferences(signer, reader.id)}${query}`;
    const unsubscribeUrl = () =>
      `${base}/unsubscribe/${signUnsubscribe(signer, reader.id, lists[0]!.id)}${query}`;
    const links =
      message.kind === 'confirm'
        ? {
            // the link names this mail: confirming it applies the name its signup gave, and only that
            actionUrl: `${base}/confirm/${signConfirm(
              signer,
              reader.id,
              lists.map((l) => l.id),
              undefined,
              message.id,
            )}${query}`,
          }
        : message.kind === 'welcome'
          ? { preferencesUrl: preferencesUrl(), unsubscribeUrl: unsubscribeUrl() }
          : // goodbye: the way back is the unsubscribe page's "subscribe again", or the preferences
            // page when several lists were left at once
            {
              actionUrl: lists.length === 1 ? unsubscribeUrl() : preferencesUrl(),
              preferencesUrl: preferencesUrl(),
            };
    const mail = await renderSystemMailParts(message.kind as 'confirm' | 'welcome' | 'goodbye', {
      lang,
      listNames: lists.map((l) => l.name),
      // A confirmation goes to an address nobody has proved yet: it carries no text a stranger chose.
      name: message.kind === 'confirm' ? null : reader.name,
      config,
      ...links,
    });
    return this.builder.buildTransactional({
      to: message.toEmail,
      subject: mail.subject,
      // The HTML is a template shared by every such mail: encoded once, only its links per message.
      html: { template: mail.html, values: mail.htmlValues },
      text: mail.text,
      kind: message.kind,
    });
  }
}
