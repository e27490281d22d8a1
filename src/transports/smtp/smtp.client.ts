import { Socket, connect as netConnect } from 'node:net';
import { hostname } from 'node:os';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

/**
 * A small SMTP client with a pool of long-lived connections, made for one job: handing finished
 * messages (raw bytes, one envelope) to a relay as cheaply as the relay allows.
 *
 * Why not nodemailer's pool: per message it compiled a MIME tree around our raw bytes, ran the
 * mailer's plugins and parsed the addresses again, then streamed the 47 KB through a Transform that
 * looked at every byte in JavaScript for dots and bare line ends (a fifth of the worker's CPU), in
 * 16 KB pieces, one write each. Here a message is checked for what needs escaping with
 * Buffer#indexOf (native), written to the socket in one piece, and MAIL FROM, RCPT TO and DATA go
 * out in one packet when the server offers PIPELINING (RFC 2920).
 *
 * Errors carry what classifySmtpError reads, in nodemailer's shape (which the transport's callers
 * and tests already understand): `responseCode` and `response` for a reply, `command` for the
 * command it answered (`CONN` for the greeting, `MAIL FROM`, `RCPT TO`, `DATA`, `AUTH …`), and
 * `code`: EAUTH (refused login), ETIMEDOUT (no answer in time), ESOCKET (the connection could not be
 * made or failed), ECONNECTION (closed in the middle), EPROTOCOL (a reply we cannot read).
 */

export interface SmtpClientOptions {
  host: string;
  port: number;
  /** TLS from the first byte (smtps). Otherwise STARTTLS whenever the server offers it. */
  secure: boolean;
  auth?: { user: string; pass: string } | undefined;
  /** Connections kept open at most. */
  maxConnections: number;
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  /** No reply for this long to a command in progress: the connection is given up. */
  socketTimeoutMs: number;
  rejectUnauthorized: boolean;
}

export interface SmtpSendResult {
  /** The server's reply to the end of the data ("250 2.0.0 Ok: queued as …"). */
  response: string;
}

export interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

function smtpError(message: string, fields: Omit<SmtpError, 'name' | 'message'>): SmtpError {
  return Object.assign(new Error(message), fields);
}

interface Reply {
  code: number;
  text: string;
}

const CRLF_DOT_CRLF = Buffer.from('\r\n.\r\n');
const DOT_CRLF = Buffer.from('.\r\n');
const DOT = Buffer.from('.');
const CR = Buffer.from('\r');
const LF = Buffer.from('\n');
const LF_DOT = Buffer.from('\n.');

/**
 * The message as DATA content (RFC 5321 §4.5.2): a dot at the start of a line doubled, bare CR and
 * bare LF made CRLF (a lone CR must not end a line on the other side: SMTP smuggling). Takes the
 * message in pieces and returns the pieces to write; a message that needs none of it (ours: CRLF
 * throughout, few lines start with a dot) comes back as it was, nothing copied. Line ends are found
 * with Buffer#indexOf (native), not byte by byte in JavaScript.
 */
export function dataPieces(parts: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = -1; // the byte before the current part (-1: start of the message)
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!;
    if (part.length === 0) continue;
    let from = 0;
    const cut = (at: number) => {
      if (at > from) out.push(part.subarray(from, at));
      out.push(DOT);
      from = at;
    };
    if (part[0] === 0x2e && (prev === 0x0a || prev === -1)) cut(0);
    if (part[0] === 0x0a && prev !== 0x0d) return slowDataPieces(Buffer.concat(parts));
    if (prev === 0x0d && part[0] !== 0x0a) return slowDataPieces(Buffer.concat(parts));
    for (let i = part.indexOf(0x0d); i !== -1; i = part.indexOf(0x0d, i + 1)) {
      // A CR at the end of a part is checked against the next part's first byte (above).
      if (i + 1 < part.length && part[i + 1] !== 0x0a) return slowDataPieces(Buffer.concat(parts));
    }
    for (let i = part.indexOf(0x0a); i !== -1; i = part.indexOf(0x0a, i + 1)) {
      if (i > 0 && part[i - 1] !== 0x0d) return slowDataPieces(Buffer.concat(parts));
      if (part[i + 1] === 0x2e) cut(i + 1);
    }
    out.push(from === 0 ? part : part.subarray(from));
    prev = part[part.length - 1]!;
  }
  if (prev === 0x0d) return slowDataPieces(Buffer.concat(parts));
  return out;
}

/** Whether the DATA content so written ends with a line break (then the end is just ".\r\n"). */
function endsWithLineBreak(pieces: readonly Buffer[]): boolean {
  for (let k = pieces.length - 1; k >= 0; k--) {
    const piece = pieces[k]!;
    if (piece.length > 0) return piece[piece.length - 1] === 0x0a;
  }
  return false;
}

function slowDataPieces(raw: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  let from = 0;
  let prev = -1;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    let insert: Buffer | undefined;
    if (prev === 0x0d && byte !== 0x0a) insert = byte === 0x2e ? LF_DOT : LF;
    else if (byte === 0x0a && prev !== 0x0d) insert = CR;
    else if (byte === 0x2e && (prev === 0x0a || prev === -1)) insert = DOT;
    if (insert) {
      if (i > from) pieces.push(raw.subarray(from, i));
      pieces.push(insert);
      from = i;
    }
    prev = byte;
  }
  if (from < raw.length) pieces.push(raw.subarray(from));
  if (prev === 0x0d) pieces.push(LF);
  return pieces;
}

/** One connection: greeting, EHLO, STARTTLS, AUTH, then one message at a time. */
class SmtpConnection {
  private socket: Socket | TLSSocket;
  private buffer = '';
  private lines: string[] = [];
  private readonly waiting: { resolve: (r: Reply) => void; reject: (e: SmtpError) => void }[] = [];
  private failure: SmtpError | undefined;
  private extensions = new Set<string>();
  private authMethods = new Set<string>();
  /** The command whose reply we wait for, for errors. */
  private command = 'CONN';
  closed = false;
  onClose: (() => void) | undefined;

  constructor(private readonly options: SmtpClientOptions) {
    this.socket = this.open();
  }

  private open(): Socket | TLSSocket {
    const { host, port, secure } = this.options;
    const socket = secure
      ? tlsConnect({
          host,
          port,
          servername: host,
          rejectUnauthorized: this.options.rejectUnauthorized,
        })
      : netConnect({ host, port });
    this.attach(socket);
    return socket;
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.fail(
        smtpError(`${error.message}`, {
          code: error.code === 'ETIMEDOUT' ? 'ETIMEDOUT' : 'ESOCKET',
          command: this.command,
        }),
      );
    });
    socket.on('close', () => {
      this.fail(smtpError('Connection closed unexpectedly', { code: 'ECONNECTION', command: this.command }));
      this.onClose?.();
    });
    socket.on('timeout', () => {
      this.fail(smtpError('Timeout', { code: 'ETIMEDOUT', command: this.command }));
      socket.destroy();
    });
  }

  /** Connects and says hello; rejects with the error that stopped it. */
  async start(): Promise<void> {
    const { connectionTimeoutMs, greetingTimeoutMs } = this.options;
    this.socket.setTimeout(connectionTimeoutMs + greetingTimeoutMs);
    const greeting = await this.read();
    if (greeting.code !== 220) throw this.replyError(greeting, 'CONN');
    this.socket.setTimeout(this.options.socketTimeoutMs);
    await this.hello();
    if (!this.options.secure && this.extensions.has('STARTTLS')) {
      await this.expect('STARTTLS', 220);
      await this.upgrade();
      await this.hello();
    }
    if (this.options.auth) await this.login(this.options.auth);
  }

  private async hello(): Promise<void> {
    // As nodemailer did: the host name when it is a domain, else an address literal.
    const host = hostname();
    const name = host.includes('.') ? host : '[127.0.0.1]';
    let reply = await this.exchange(`EHLO ${name}`);
    if (reply.code >= 500) {
      reply = await this.exchange(`HELO ${name}`);
      if (reply.code !== 250) throw this.replyError(reply, 'HELO');
      this.extensions = new Set();
      return;
    }
    if (reply.code !== 250) throw this.replyError(reply, 'EHLO');
    this.extensions = new Set();
    this.authMethods = new Set();
    for (const line of reply.text.split('\n').slice(1)) {
      const [keyword, ...params] = line.trim().toUpperCase().split(/[\s=]+/);
      if (!keyword) continue;
      this.extensions.add(keyword);
      if (keyword === 'AUTH') for (const p of params) this.authMethods.add(p);
    }
  }

  private upgrade(): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    plain.removeAllListeners('timeout');
    plain.setTimeout(0);
    return new Promise((resolve, reject) => {
      const secure = tlsConnect({
        socket: plain,
        servername: this.options.host,
        rejectUnauthorized: this.options.rejectUnauthorized,
      });
      const onError = (error: Error) =>
        reject(smtpError(error.message, { code: 'ETLS', command: 'STARTTLS' }));
      secure.once('error', onError);
      secure.once('secureConnect', () => {
        secure.off('error', onError);
        this.socket = secure;
        this.attach(secure);
        secure.setTimeout(this.options.socketTimeoutMs);
        resolve();
      });
    });
  }

  private async login(auth: { user: string; pass: string }): Promise<void> {
    const methods = this.authMethods;
    let reply: Reply;
    let command: string;
    if (methods.has('PLAIN') || !methods.has('LOGIN')) {
      command = 'AUTH PLAIN';
      reply = await this.exchange(
        `AUTH PLAIN ${Buffer.from(`\0${auth.user}\0${auth.pass}`, 'utf8').toString('base64')}`,
        command,
      );
    } else {
      command = 'AUTH LOGIN';
      reply = await this.exchange('AUTH LOGIN', command);
      if (reply.code === 334) reply = await this.exchange(Buffer.from(auth.user).toString('base64'), command);
      if (reply.code === 334) reply = await this.exchange(Buffer.from(auth.pass).toString('base64'), command);
    }
    if (reply.code !== 235) {
      throw smtpError(`Invalid login: ${reply.code} ${reply.text}`, {
        code: 'EAUTH',
        responseCode: reply.code,
        response: `${reply.code} ${reply.text}`,
        command,
      });
    }
  }

  /** One message to its recipients. Rejects with the reply that refused it. */
  async send(from: string, to: string[], parts: readonly Buffer[]): Promise<SmtpSendResult> {
    const commands = [`MAIL FROM:<${from}>`, ...to.map((t) => `RCPT TO:<${t}>`), 'DATA'];
    const replies: Reply[] = [];
    if (this.extensions.has('PIPELINING')) {
      this.command = 'MAIL FROM';
      this.socket.write(`${commands.join('\r\n')}\r\n`, 'latin1');
      for (let i = 0; i < commands.length; i++) replies.push(await this.read());
    } else {
      for (const command of commands) {
        this.command = command.slice(0, command.indexOf(':') > 0 ? command.indexOf(':') : undefined);
        const reply = await this.exchange(command);
        replies.push(reply);
        if (reply.code >= 400) break;
      }
    }
    const mail = replies[0]!;
    if (mail.code !== 250) {
      await this.reset();
      throw this.replyError(mail, 'MAIL FROM');
    }
    const rcpts = replies.slice(1, 1 + to.length);
    const accepted = rcpts.filter((r) => r.code === 250 || r.code === 251).length;
    const data = replies[1 + to.length];
    if (accepted === 0) {
      if (data?.code === 354) await this.exchange('.', 'DATA');
      await this.reset();
      throw this.replyError(rcpts.find((r) => r.code >= 400) ?? rcpts[0]!, 'RCPT TO');
    }
    if (data?.code !== 354) {
      await this.reset();
      throw this.replyError(data ?? { code: 0, text: 'no reply' }, 'DATA');
    }
    this.command = 'DATA';
    // One writev for the message and its end.
    const pieces = dataPieces(parts);
    this.socket.cork();
    for (const piece of pieces) this.socket.write(piece);
    this.socket.write(endsWithLineBreak(pieces) ? DOT_CRLF : CRLF_DOT_CRLF);
    this.socket.uncork();
    const done = await this.read();
    if (done.code !== 250) {
      throw this.replyError(done, 'DATA');
    }
    return { response: `${done.code} ${done.text}` };
  }

  /** After a refused envelope: RSET, so the connection can carry the next message. */
  private async reset(): Promise<void> {
    try {
      const reply = await this.exchange('RSET');
      if (reply.code !== 250) this.destroy();
    } catch {
      this.destroy();
    }
  }

  async quit(): Promise<void> {
    if (this.closed) return;
    try {
      this.socket.write('QUIT\r\n');
    } catch {
      // already gone
    }
    this.socket.end();
    this.closed = true;
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private async expect(command: string, code: number): Promise<Reply> {
    const reply = await this.exchange(command);
    if (reply.code !== code) throw this.replyError(reply, command);
    return reply;
  }

  private exchange(command: string, name = command.split(' ')[0]!): Promise<Reply> {
    this.command = name;
    if (this.failure) return Promise.reject(this.failure);
    this.socket.write(`${command}\r\n`, 'latin1');
    return this.read();
  }

  private read(): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.deliverReplies();
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let end = this.buffer.indexOf('\n');
    while (end !== -1) {
      this.lines.push(this.buffer.slice(0, end).replace(/\r$/, ''));
      this.buffer = this.buffer.slice(end + 1);
      end = this.buffer.indexOf('\n');
    }
    this.deliverReplies();
  }

  /** Hands complete replies (a multi-line reply ends with "NNN ") to whoever waits, in order. */
  private deliverReplies(): void {
    while (this.waiting.length > 0) {
      const last = this.lines.findIndex((line) => !/^\d{3}-/.test(line));
      if (last === -1) return;
      const reply = this.lines.splice(0, last + 1);
      const code = Number(reply[0]!.slice(0, 3));
      const text = reply.map((line) => line.slice(4)).join('\n');
      const waiter = this.waiting.shift()!;
      if (!Number.isInteger(code) || code < 200 || code > 599) {
        const error = smtpError(`Invalid reply: ${reply.join(' ')}`, {
          code: 'EPROTOCOL',
          command: this.command,
        });
        waiter.reject(error);
        this.fail(error);
        this.socket.destroy();
        return;
      }
      waiter.resolve({ code, text });
    }
  }

  private fail(error: SmtpError): void {
    this.failure ??= error;
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
  }

  private replyError(reply: Reply, command: string): SmtpError {
    const response = `${reply.code} ${reply.text.replace(/\n/g, ' ')}`;
    return smtpError(`${command === 'CONN' ? 'Greeting' : `Command ${command}`} refused: ${response}`, {
      code: reply.code >= 500 && command.startsWith('AUTH') ? 'EAUTH' : 'EENVELOPE',
      responseCode: reply.code,
      response,
      command,
    });
  }
}

/** Up to maxConnections connections, each carrying one message at a time, reused until they fail. */
export class SmtpClient {
  private readonly connections = new Set<SmtpConnection>();
  private readonly idle: SmtpConnection[] = [];
  private readonly queue: Job[] = [];
  private closing = false;

  constructor(private readonly options: SmtpClientOptions) {}

  send(from: string, to: string[], parts: readonly Buffer[]): Promise<SmtpSendResult> {
    if (this.closing) return Promise.reject(smtpError('The client is closed', { code: 'ECONNECTION' }));
    return new Promise((resolve, reject) => {
      this.queue.push({ from, to, parts, resolve, reject });
      this.dispatch();
    });
  }

  /** A connection of its own: greeting, EHLO, STARTTLS and login when configured, then QUIT. */
  async verify(): Promise<void> {
    const connection = new SmtpConnection(this.options);
    try {
      await connection.start();
      await connection.quit();
    } finally {
      connection.destroy();
    }
  }

  close(): void {
    this.closing = true;
    for (const connection of this.idle.splice(0)) void connection.quit();
    for (const job of this.queue.splice(0)) {
      job.reject(smtpError('The client is closed', { code: 'ECONNECTION' }));
    }
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const connection = this.idle.pop();
      if (connection) {
        if (!connection.closed) this.run(connection, this.queue.shift()!);
        continue;
      }
      if (this.connections.size >= this.options.maxConnections) return;
      this.connect(this.queue.shift()!);
    }
  }

  private connect(job: Job): void {
    const connection = new SmtpConnection(this.options);
    this.connections.add(connection);
    connection.onClose = () => {
      this.connections.delete(connection);
      const at = this.idle.indexOf(connection);
      if (at !== -1) this.idle.splice(at, 1);
      if (!this.closing) this.dispatch();
    };
    connection.start().then(
      () => this.run(connection, job),
      (error) => {
        connection.destroy();
        job.reject(error);
      },
    );
  }

  private run(connection: SmtpConnection, job: Job): void {
    connection.send(job.from, job.to, job.parts).then(
      (result) => {
        this.release(connection);
        job.resolve(result);
      },
      (error: SmtpError) => {
        // A refused message leaves a usable connection (reset after the refusal); anything else
        // (a timeout, a dropped connection, a reply we could not read) does not.
        if (error.code !== 'EENVELOPE') connection.destroy();
        this.release(connection);
        job.reject(error);
      },
    );
  }

  private release(connection: SmtpConnection): void {
    if (this.closing) void connection.quit();
    else if (!connection.closed) this.idle.push(connection);
    this.dispatch();
  }
}

interface Job {
  from: string;
  to: string[];
  parts: readonly Buffer[];
  resolve: (r: SmtpSendResult) => void;
  reject: (e: unknown) => void;
}
