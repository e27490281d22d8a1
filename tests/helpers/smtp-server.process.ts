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
}

const options: Options = JSON.parse(process.env.SMTP_TEST_OPTIONS ?? '{}');
const lower = (list: string[] | undefined) => new Set((list ?? []).map((a) => a.toLowerCase()));
const rejected = lower(options.rejectAddresses);
const rejectedSenders = lower(options.rejectSenders);
const policyRejected = lower(options.policyRejectAddresses);
const refusedContent = lower(options.rejectDataFor);

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

const server: SMTPServer = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  size: 50 * 1024 * 1024,
  onConnect(_session, callback) {
    if (options.rejectGreeting) return callback(smtpError(554, '5.7.1 No SMTP service here'));
    callback();
  },
  onMailFrom(address, _session, callback) {
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
        for (const connection of (
          server as unknown as { connections: Set<{ id: string; _socket: { destroy(): void } }> }
        ).connections) {
          if (connection.id === session.id) connection._socket.destroy();
        }
        return;
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
        ...(options.keepRaw ? { raw } : {}),
      };
      const answer = () => {
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
