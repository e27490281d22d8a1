import type { ClassifiedFailure } from '../core/bounce-reason.ts';
import type { OutgoingMessage } from '../core/outgoing-message.ts';

/**
 * The one contract every transport (smtp, ses, outbox) keeps, so the worker never knows which it has.
 * A message arrives fully built (headers, MIME, DKIM already applied) as raw bytes; the transport only
 * carries it. Failures are classified by the transport, which is the only place that understands its
 * provider's replies.
 */

/** Built by render (MessageBuilder), carried by a transport: defined in core so neither imports the other. */
export type { OutgoingMessage };

export interface SendResult {
  /** The provider's id for the message (SES MessageId, the SMTP queue id from the reply, or our own). */
  providerMessageId: string;
  /** The provider's last reply, for the record. */
  response: string;
}

/**
 * transient: try again later (4xx, dropped connection, timeout, throttling).
 * permanent: this message to this recipient will never be accepted (5xx); only a hard bounce when
 * `hardBounce` says the mailbox itself was refused.
 * fatal: the account or sender cannot send at all (suspended, paused, unverified): stop the issue.
 */
export type FailureKind = 'transient' | 'permanent' | 'fatal';

export class TransportError extends Error {
  readonly kind: FailureKind;
  /** Stable code such as `smtp.4xx`, `ses.throttled`, `ses.account_suspended`. */
  readonly code: string;
  /** The provider asked us to slow down (throttling): the rate limiter should back off. */
  readonly throttled: boolean;
  readonly retryAfterMs: number | undefined;
  /**
   * A permanent failure that says the recipient's mailbox does not exist (SMTP 5xx at RCPT TO): the
   * address is suppressed for good. A refused sender, a content filter or a policy reply fails the
   * message without holding it against the reader.
   */
  readonly hardBounce: boolean;
  /**
   * The provider could not be reached at all (connection refused, timed out, name not found, its
   * endpoint answering 502/503/504): a transient failure that says nothing about this message or
   * this recipient. Senders stop using the transport until a probe gets through, and the attempt
   * does not count against MAX_ATTEMPTS, so an outage of any length fails nobody.
   */
  readonly unreachable: boolean;
  /**
   * What the recipient's server said at RCPT TO, classified (reason, status): recorded on the
   * bounce event whether or not it suppresses, so the editor sees why mail was refused.
   */
  readonly bounce: ClassifiedFailure | undefined;

  constructor(
    kind: FailureKind,
    code: string,
    message: string,
    options: {
      throttled?: boolean;
      retryAfterMs?: number;
      hardBounce?: boolean;
      unreachable?: boolean;
      bounce?: ClassifiedFailure;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransportError';
    this.kind = kind;
    this.code = code;
    this.throttled = options.throttled ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.hardBounce = kind === 'permanent' && options.hardBounce === true;
    this.unreachable = kind === 'transient' && options.unreachable === true;
    this.bounce = kind === 'permanent' ? options.bounce : undefined;
  }
}

export interface Transport {
  readonly name: 'smtp' | 'ses' | 'outbox';
  /** Resolves when the provider accepted the message; rejects with a TransportError otherwise. */
  send(message: OutgoingMessage): Promise<SendResult>;
  /** The most messages per second the provider allows, when it says (SES GetAccount). */
  maxRate?(): Promise<number | undefined>;
  /**
   * Asks the provider for a sign of life without sending anything (an SMTP connection with EHLO
   * and login, an SES API call); rejects with a TransportError. Used to tell when an outage is over.
   * Transports that cannot be unreachable (the outbox folder) have none.
   */
  probe?(): Promise<void>;
  close(): Promise<void>;
}
