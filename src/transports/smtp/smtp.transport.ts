import { classifyFailure } from '../../core/bounce-reason.ts';
import { invalid } from '../../core/errors.ts';
import { type OutgoingMessage, type SendResult, type Transport, TransportError } from '../transport.types.ts';
import { SmtpPool } from './smtp.pool.ts';

export interface SmtpOptions {
  /** smtp://user:pass@host:port (STARTTLS when offered) or smtps://… (TLS from the first byte). */
  url: string;
  /** Pooled connections kept open to the server. */
  connections: number;
}

/** Network failures that say nothing about the message: the same bytes may well succeed later. */
const NETWORK_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'EDNS',
  'EPROTOCOL',
]);

/**
 * The server cannot be reached: the connection is refused or cannot be routed, its name does not
 * resolve, or it stopped answering (a timeout, at the greeting or later). A connection that drops
 * in the middle of one message is not an outage (nodemailer tags that `CONN` too, so the phase
 * cannot tell them apart): it is retried as a transient failure of that message, and if the server
 * is really gone the next connection is refused.
 */
function isUnreachable(err: { code?: string; message?: string }): boolean {
  if (err.code === 'ETIMEDOUT' || err.code === 'EDNS') return true;
  return /\b(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)\b/.test(err.message ?? '');
}

/**
 * Sends our already-built message over pooled SMTP connections (smtp.pool.ts: nodemailer's
 * SMTPConnection, given the raw bytes and an explicit envelope), so no header is rewritten (DKIM
 * stays valid) and the bounce address is ours (VERP) rather than the From. A long issue is one long
 * conversation per connection: connections are kept for as long as they work.
 */
export class SmtpTransport implements Transport {
  readonly name = 'smtp' as const;
  private readonly pool: SmtpPool;

  constructor(options: SmtpOptions) {
    const url = parseSmtpUrl(options.url);
    this.pool = new SmtpPool({
      host: url.host,
      port: url.port,
      secure: url.secure,
      auth: url.auth,
      size: options.connections,
      connectionTimeout: 15_000,
      greetingTimeout: 15_000,
      socketTimeout: 60_000,
      // Local test servers and smtp-sink offer no certificate worth checking; real relays do, and
      // then STARTTLS is used whenever the server offers it.
      rejectUnauthorized: url.host !== '127.0.0.1' && url.host !== 'localhost',
    });
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    try {
      const info = await this.pool.send({ from: message.envelopeFrom, to: message.to }, message.raw);
      const response = String(info.response ?? '');
      return { providerMessageId: queueIdOf(response) ?? message.messageId, response };
    } catch (error) {
      throw classifySmtpError(error);
    }
  }

  /** A connection of its own: greeting, EHLO, STARTTLS and login when configured, then QUIT. */
  async probe(): Promise<void> {
    try {
      await this.pool.verify();
    } catch (error) {
      throw classifySmtpError(error);
    }
  }

  async close(): Promise<void> {
    this.pool.close();
  }
}

/**
 * A 5xx means what the command it answered says (nodemailer names it in `err.command`):
 * - at RCPT TO, the recipient's server refused this recipient: the reply is classified
 *   (core/bounce-reason.ts, the same classifier bounce mail goes through) and only a reason about
 *   the address (user unknown, no such domain, moved, accepts no mail) is a hard bounce that
 *   suppresses; a policy, spam or reputation refusal (550 5.7.1) fails the message and is recorded
 *   with its reason, the reader stays mailable;
 * - after DATA, this message was refused (a content filter): it fails, the reader is not suppressed;
 * - anywhere else (greeting, EHLO, AUTH, MAIL FROM), the server will take nothing from us: the issue
 *   stops instead of failing, let alone suppressing, every address.
 * 4xx, timeouts and dropped connections: try again later; 421 and replies that speak of rates ask us
 * to slow down.
 */
export function classifySmtpError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  const err = error as {
    code?: string;
    responseCode?: number;
    response?: string;
    message?: string;
    command?: string;
  };
  const text = (err.response ?? err.message ?? String(error)).replace(/\s+/g, ' ').trim();
  const reply = err.responseCode;
  if (err.code === 'EAUTH' || reply === 535 || reply === 530) {
    return new TransportError('fatal', 'smtp.auth', `the SMTP server refused our login: ${text}`, {
      cause: error,
    });
  }
  if (reply !== undefined && reply >= 500 && reply < 600) {
    if (err.command === 'RCPT TO') {
      const bounce = classifyFailure({ reply, text, command: 'RCPT TO' });
      return new TransportError('permanent', `smtp.${reply}`, text, {
        hardBounce: bounce.suppresses,
        bounce,
        cause: error,
      });
    }
    if (err.command === 'DATA') {
      return new TransportError('permanent', `smtp.${reply}`, `the message was refused: ${text}`, {
        cause: error,
      });
    }
    const refused = !err.command || err.command === 'CONN' ? 'the connection' : err.command;
    return new TransportError('fatal', `smtp.${reply}`, `the SMTP server refused ${refused}: ${text}`, {
      cause: error,
    });
  }
  if (reply !== undefined && reply >= 400 && reply < 500) {
    const throttled = reply === 421 || /rate|too many|throttl|slow down/i.test(text);
    return new TransportError('transient', `smtp.${reply}`, text, { throttled, cause: error });
  }
  if (err.code && NETWORK_CODES.has(err.code)) {
    return new TransportError('transient', `smtp.${err.code.toLowerCase()}`, text, {
      unreachable: isUnreachable(err),
      cause: error,
    });
  }
  // Anything we cannot read is treated as passing trouble: retried up to MAX_ATTEMPTS, never dropped.
  return new TransportError('transient', 'smtp.unknown', text, { cause: error });
}

function queueIdOf(response: string): string | undefined {
  // "250 2.0.0 Ok: queued as 4Xk2Zq1…" (Postfix), "250 OK id=1abc-…" (Exim).
  const match = /queued as ([A-Za-z0-9._-]+)|\bid=([A-Za-z0-9._-]+)/.exec(response);
  return match?.[1] ?? match?.[2];
}

export function parseSmtpUrl(raw: string): {
  host: string;
  port: number;
  secure: boolean;
  auth?: { user: string; pass: string };
} {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('transports.mail_url_invalid', 'MAIL_URL is not a URL such as smtp://user:pass@host:587');
  }
  const secure = url.protocol === 'smtps:';
  if (!secure && url.protocol !== 'smtp:') {
    throw invalid('transports.mail_url_invalid', `MAIL_URL scheme ${url.protocol} is not smtp: or smtps:`);
  }
  if (!url.hostname) throw invalid('transports.mail_url_invalid', 'MAIL_URL has no host');
  const port = url.port ? Number(url.port) : secure ? 465 : 587;
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    secure,
    ...(user ? { auth: { user, pass } } : {}),
  };
}
