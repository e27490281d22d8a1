/**
 * A recording SMTP server for tests, run as its own process (started by tests/helpers/smtp.ts).
 * Options come as JSON in SMTP_TEST_OPTIONS. Each accepted message is reported as one JSON line on
 * stdout; the first line is `{"listening": <port>}`. Faults can be injected: a share of messages
 * answered with a transient 4xx, a share of connections dropped mid-transaction, addresses that
 * are rejected with 550 (or 5.7.1 policy) at RCPT TO, senders refused at MAIL FROM, messages refused
 * after DATA, and a 554 greeting.
 */
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

interface Options {
  transientRate?: number;
  dropRate?: number;
  rejectAddresses?: string[];
  /** Keep the whole message in the report (default: headers only, which keeps big runs light). */
  keepRaw?: boolean;
  /** Milliseconds to wait before answering each message. */
  delayMs?: number;
  /** Envelope senders answered 550 at MAIL FROM. */
  rejectSenders?: string[];
  /** Recipients answered 550 5.7.1 (relay denied, a policy reply) at RCPT TO. */
  policyRejectAddresses?: string[];
  /** Messages to these recipients are answered 554 after DATA (a content filter). */
  rejectDataFor?: string[];
  /** Every connection is greeted with 554 (the server takes nothing from us). */
  rejectGreeting?: boolean;
  /** Listen on this port (a server restarted where the first one was); a free one by default. */
  port?: number;
  /** A connection that has carried a message is dropped, unanswered, when the next envelope starts. */
  dropReusedConnections?: boolean;
  /** Offer STARTTLS (smtp-server's own self-signed certificate) and take mail only over TLS. */
  requireTls?: boolean;
  /** Offer AUTH PLAIN/LOGIN and take mail only after a login with these credentials. */
  auth?: { user: string; pass: string };
}

const options: Options = JSON.parse(process.env.SMTP_TEST_OPTIONS ?? '{}');
const lower = (list: string[] | undefined) => new Set((list ?? []).map((a) => a.toLowerCase()));
const rejected = lower(options.rejectAddresses);
const rejectedSenders = lower(options.rejectSenders);
const policyRejected = lower(options.policyRejectAddresses);
const refusedContent = lower(options.rejectDataFor);

/** Messages accepted per session, for dropReusedConnections. */
const accepted = new Map<string, number>();

function dropConnection(sessionId: string): void {
  for (const connection of (
    server as unknown as { connections: Set<{ id: string; _socket: { destroy(): void } }> }
  ).connections) {
    if (connection.id === sessionId) connection._socket.destroy();
  }
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

const disabledCommands = [...(options.requireTls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])];

const server: SMTPServer = new SMTPServer({
  authOptional: !options.auth,
  disabledCommands,
  // AUTH only once the connection is encrypted when TLS is on, as real submission servers do.
  allowInsecureAuth: !options.requireTls,
  authMethods: ['PLAIN', 'LOGIN'],
  logger: false,
  onAuth(auth, _session, callback) {
    if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
      return callback(null, { user: auth.username });
    }
    callback(smtpError(535, '5.7.8 Authentication credentials invalid'));
  },
  size: 50 * 1024 * 1024,
  onConnect(_session, callback) {
    if (options.rejectGreeting) return callback(smtpError(554, '5.7.1 No SMTP service here'));
    callback();
  },
  onMailFrom(address, session, callback) {
    if (options.dropReusedConnections && (accepted.get(session.id) ?? 0) > 0)
      return dropConnection(session.id);
    if (options.requireTls && !session.secure)
      return callback(smtpError(530, '5.7.0 Must issue a STARTTLS command first'));
    if (rejectedSenders.has(address.address.toLowerCase())) {
      return callback(smtpError(550, `5.7.1 <${address.address}>: Sender address rejected: Access denied`));
    }
    callback();
  },
  onRcptTo(address, _session, callback) {
    if (rejected.has(address.address.toLowerCase())) {
      return callback(smtpError(550, `5.1.1 <${address.address}>: Recipient address rejected: User unknown`));
    }
    if (policyRejected.has(address.address.toLowerCase())) {
      return callback(smtpError(550, `5.7.1 <${address.address}>: Relay access denied`));
    }
    callback();
  },
  onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      if (options.dropRate && Math.random() < options.dropRate) {
        // Vanish without answering, as a crashing relay would: the client sees a dropped connection.
        return dropConnection(session.id);
      }
      if (options.transientRate && Math.random() < options.transientRate) {
        return callback(smtpError(451, '4.3.0 Temporary failure, try again later'));
      }
      if (session.envelope.rcptTo.some((r) => refusedContent.has(r.address.toLowerCase()))) {
        return callback(smtpError(554, '5.7.1 Message rejected: content looks like spam'));
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const headerEnd = raw.search(/\r?\n\r?\n/);
      const record = {
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        to: session.envelope.rcptTo.map((r) => r.address),
        size: raw.length,
        headers: headerEnd >= 0 ? raw.slice(0, headerEnd) : raw,
        secure: session.secure,
        ...(session.user ? { user: String(session.user) } : {}),
        ...(options.keepRaw ? { raw } : {}),
      };
      const answer = () => {
        accepted.set(session.id, (accepted.get(session.id) ?? 0) + 1);
        process.stdout.write(`${JSON.stringify(record)}\n`);
        callback(null, 'Message queued');
      };
      if (options.delayMs) setTimeout(answer, options.delayMs);
      else answer();
    });
  },
});

server.on('error', (error) => process.stderr.write(`smtp test server: ${error.message}\n`));
server.listen(options.port ?? 0, '127.0.0.1', () => {
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ listening: port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
