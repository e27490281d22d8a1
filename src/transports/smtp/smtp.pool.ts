import type { Writable } from 'node:stream';
import SMTPConnection, { type SMTPConnectionSendInfo } from 'nodemailer/lib/smtp-connection';
import { SmtpDataStream } from './smtp-data.stream.ts';

export interface SmtpPoolOptions {
  host: string;
  port: number;
  /** TLS from the first byte (smtps://); otherwise STARTTLS whenever the server offers it. */
  secure: boolean;
  auth?: { user: string; pass: string } | undefined;
  /** The most connections open at once. */
  size: number;
  connectionTimeout: number;
  greetingTimeout: number;
  socketTimeout: number;
  rejectUnauthorized: boolean;
}

/** The parts of SMTPConnection (nodemailer 10.6) that its DATA step uses; see SmtpConnection. */
interface ConnectionInternals {
  _socket: Writable;
  _responseActions: ((reply: string) => void)[];
  _currentDataStream: SmtpDataStream | false;
  _actionSMTPStream(reply: string, callback: (error: Error | null, reply?: string) => void): void;
}

/**
 * nodemailer's SMTPConnection with one step replaced: the message goes to the socket through
 * SmtpDataStream (the same bytes, found with native scans) instead of nodemailer's DataStream, which
 * was a third of a sending worker's CPU (see smtp-data.stream.ts). Everything else — greeting,
 * EHLO, STARTTLS, AUTH, the pipelined envelope, replies, timeouts, errors — is nodemailer's.
 *
 * `_createSendStream` is what SMTPConnection.send calls once the server said 354 (then it writes the
 * message to the stream and ends it); this is the SMTP (not LMTP) branch of it, without the debug
 * copy (we never turn nodemailer's debug log on), writing to the socket itself instead of piping. Should
 * a nodemailer upgrade rename it, nodemailer's own DataStream is used again: slower, not wrong, and
 * tests/transports-smtp.test.ts fails on it.
 */
export class SmtpConnection extends SMTPConnection {
  /** Messages whose DATA content started on this connection (then bytes of it may have left). */
  dataStreams = 0;

  _createSendStream(callback: (error: Error | null, reply?: string) => void): SmtpDataStream {
    const self = this as unknown as ConnectionInternals;
    const stream = new SmtpDataStream(self._socket);
    this.dataStreams++;
    self._responseActions.push((reply) => self._actionSMTPStream(reply, callback));
    self._currentDataStream = stream;
    stream.once('finish', () => {
      if (self._currentDataStream === stream) self._currentDataStream = false;
    });
    return stream;
  }
}

interface Pooled {
  connection: SmtpConnection;
  /** False once the connection failed or the server ended it: it is never handed out again. */
  alive: boolean;
  /** Counted in `open` (a probe's connection is not). */
  counted: boolean;
  /** A message is on its way over it: its send decides what becomes of the connection. */
  sending: boolean;
  sent: number;
}

interface Waiter {
  resolve: (pooled: Pooled) => void;
  reject: (error: unknown) => void;
}

type SmtpFailure = Error & { code?: string; command?: string; responseCode?: number };

/**
 * Up to `size` SMTP conversations kept open, each one nodemailer's SMTPConnection (which speaks the
 * protocol: EHLO, STARTTLS, AUTH, PIPELINING of the envelope, replies; the DATA bytes are
 * SmtpDataStream's, above), one message at a time per connection, connections reused for as long as
 * they work.
 *
 * Why not nodemailer's own pool (`createTransport({ pool: true })`): it runs every message through
 * the Mail layer — plugins, MailComposer, a MimeNode, a generated Message-ID (random bytes), an
 * address parser and a chain of streams — even for a raw message with an explicit envelope. Sending
 * the same 42 KB bench message to Postfix's smtp-sink over 16 connections from one process
 * (2026-12-01): nodemailer's pool 1,578–1,738 msg/s at 0.53 ms CPU per message; SMTPConnection.send
 * directly, as here, 3,717–3,949 msg/s at 0.26 ms (smtp-source: 2,317 msg/s). In `digestmail
 * worker` the Mail layer was the largest share of its CPU (bench:send: 0.88–1.07 ms per message,
 * one core busy, 0.56–0.58× smtp-source); with this pool and SmtpDataStream, 0.28–0.35 ms, and the
 * worker waits on the sink a third of the time.
 */
export class SmtpPool {
  private readonly idle: Pooled[] = [];
  private readonly waiting: Waiter[] = [];
  /** Connections open or being opened. */
  private open = 0;
  private closed = false;

  constructor(private readonly options: SmtpPoolOptions) {}

  /** Sends one message (its bytes, or its pieces in order); rejects with nodemailer's error (code, responseCode, command). */
  async send(
    envelope: { from: string; to: string[] },
    content: Buffer | readonly Buffer[],
  ): Promise<SMTPConnectionSendInfo> {
    for (let attempt = 1; ; attempt++) {
      const pooled = await this.acquire();
      const dataStreams = pooled.connection.dataStreams;
      pooled.sending = true;
      try {
        const info = await new Promise<SMTPConnectionSendInfo>((resolve, reject) => {
          // A fresh envelope each time: SMTPConnection keeps its own state on the object.
          // SMTPConnection.send hands a message that is not a stream to SmtpDataStream in one write.
          const message = content as Buffer;
          pooled.connection.send({ from: envelope.from, to: [...envelope.to] }, message, (error, result) => {
            pooled.sending = false;
            if (error) reject(error);
            else resolve(result as SMTPConnectionSendInfo);
          });
        });
        pooled.sent++;
        this.release(pooled);
        return info;
      } catch (error) {
        const failure = error as SmtpFailure;
        if (
          (failure.code === 'EENVELOPE' || failure.code === 'EMESSAGE') &&
          failure.responseCode !== 421 &&
          pooled.alive
        ) {
          // The server refused this message, not the conversation: reset it and keep the connection.
          pooled.connection.reset((resetError) => (resetError ? this.discard(pooled) : this.release(pooled)));
          throw error;
        }
        this.discard(pooled);
        // A connection that had carried mail broke before any of this message's content was written
        // (typically the server ending an idle conversation just as our envelope arrived): the server
        // cannot have taken this message, so it goes out once over a new connection, as nodemailer's
        // pool does. A reply (4xx, 5xx) is the server's verdict and is never retried here.
        if (
          attempt === 1 &&
          pooled.sent > 0 &&
          pooled.connection.dataStreams === dataStreams &&
          failure.responseCode === undefined &&
          (failure.code === 'ECONNECTION' || failure.code === 'ESOCKET')
        ) {
          continue;
        }
        throw error;
      }
    }
  }

  /** A connection of its own: greeting, EHLO, STARTTLS and login when configured, then QUIT. */
  async verify(): Promise<void> {
    const pooled = await this.connect(false);
    pooled.connection.quit();
  }

  /** Ends the idle connections now and the busy ones when their message is done. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(closedError());
    for (const pooled of this.idle.splice(0)) {
      if (pooled.counted) this.open--;
      pooled.counted = false;
      pooled.alive = false;
      pooled.connection.quit();
    }
  }

  private acquire(): Promise<Pooled> {
    if (this.closed) return Promise.reject(closedError());
    const pooled = this.idle.pop();
    if (pooled) return Promise.resolve(pooled);
    if (this.open < this.options.size) return this.connect(true);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(pooled: Pooled): void {
    if (!pooled.alive || this.closed) {
      this.discard(pooled);
      return;
    }
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve(pooled);
    else this.idle.push(pooled);
  }

  /** Closes a connection for good; a send waiting for one gets a new connection in its place. */
  private discard(pooled: Pooled): void {
    pooled.alive = false;
    const at = this.idle.indexOf(pooled);
    if (at >= 0) this.idle.splice(at, 1);
    pooled.connection.close();
    if (!pooled.counted) return;
    pooled.counted = false;
    this.open--;
    const waiter = this.waiting.shift();
    if (waiter) this.connect(true).then(waiter.resolve, waiter.reject);
  }

  private connect(counted: boolean): Promise<Pooled> {
    const { options } = this;
    const connection = new SmtpConnection({
      host: options.host,
      port: options.port,
      secure: options.secure,
      connectionTimeout: options.connectionTimeout,
      greetingTimeout: options.greetingTimeout,
      socketTimeout: options.socketTimeout,
      tls: { rejectUnauthorized: options.rejectUnauthorized },
    });
    const pooled: Pooled = { connection, alive: true, counted, sending: false, sent: 0 };
    if (counted) this.open++;
    return new Promise<Pooled>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        this.discard(pooled);
        reject(error);
      };
      // Errors of a connection that is sending also reach that send's callback, which decides.
      connection.on('error', (error: Error) => {
        pooled.alive = false;
        fail(error);
      });
      connection.once('end', () => {
        pooled.alive = false;
        // The server ended a conversation that no send is waiting on (idle, or in the RSET after a
        // refused message, whose callback then never comes): forget it, a later send opens another.
        if (!pooled.sending) this.discard(pooled);
        fail(
          Object.assign(new Error('Connection closed unexpectedly'), {
            code: 'ECONNECTION',
            command: 'CONN',
          }),
        );
      });
      connection.connect((error) => {
        if (error) return fail(error);
        const done = () => {
          settled = true;
          resolve(pooled);
        };
        // As nodemailer's pool: log in when we have credentials and the server offers AUTH.
        if (!options.auth || !connection.allowsAuth) return done();
        connection.login({ user: options.auth.user, pass: options.auth.pass }, (loginError) =>
          loginError ? fail(loginError) : done(),
        );
      });
    });
  }
}

function closedError(): Error {
  return Object.assign(new Error('the SMTP transport is closed'), { code: 'ECONNECTION', command: 'API' });
}
