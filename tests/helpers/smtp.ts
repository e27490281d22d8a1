import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface SmtpServerOptions {
  /** Share of messages answered 451 (0..1). */
  transientRate?: number;
  /** Share of messages whose connection is dropped without an answer (0..1). */
  dropRate?: number;
  /** Addresses answered 550 at RCPT TO. */
  rejectAddresses?: string[];
  /** Record whole messages, not only their headers. */
  keepRaw?: boolean;
  delayMs?: number;
  /** Envelope senders answered 550 at MAIL FROM. */
  rejectSenders?: string[];
  /** Recipients answered 550 5.7.1 (relay denied) at RCPT TO. */
  policyRejectAddresses?: string[];
  /** Messages to these recipients are answered 554 after DATA (a content filter). */
  rejectDataFor?: string[];
  /** Every connection is greeted with 554. */
  rejectGreeting?: boolean;
  /** Listen on this port (to bring a stopped server back where it was). */
  port?: number;
  /** A connection that has carried a message is dropped, unanswered, when the next envelope starts. */
  dropReusedConnections?: boolean;
  /** Offer STARTTLS and take mail only over TLS. */
  requireTls?: boolean;
  /** Offer AUTH and take mail only after a login with these credentials. */
  auth?: { user: string; pass: string };
}

export interface ReceivedMessage {
  from: string;
  to: string[];
  size: number;
  /** The header block, unfolded lines as sent. */
  headers: string;
  raw?: string;
  /** The session was encrypted (STARTTLS) when the message came. */
  secure?: boolean;
  /** Who logged in, when someone did. */
  user?: string;
}

export interface TestSmtpServer {
  port: number;
  url: string;
  messages(): ReceivedMessage[];
  /** Resolves once at least n messages were accepted; rejects after timeoutMs. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  close(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./smtp-server.process.ts', import.meta.url));

/** The value of one header in a recorded header block (first occurrence, folded lines joined). */
export function header(headers: string, name: string): string | undefined {
  const match = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im').exec(headers);
  return match?.[1]?.replace(/\r?\n[ \t]+/g, ' ').trim();
}

/** Starts a recording SMTP server in its own process (see smtp-server.process.ts). */
export function startSmtpServer(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: { ...process.env, SMTP_TEST_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const received: ReceivedMessage[] = [];
  const waiters = new Set<() => void>();
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let started = false;
    child.once('exit', (code) => {
      if (!started) reject(new Error(`the test SMTP server exited with ${code} before listening`));
    });
    lines.on('line', (line) => {
      const record = JSON.parse(line) as ReceivedMessage | { listening: number };
      if ('listening' in record) {
        started = true;
        const port = record.listening;
        resolve({
          port,
          url: `smtp://127.0.0.1:${port}`,
          messages: () => received,
          waitFor: (n, timeoutMs = 60_000) =>
            new Promise((done, fail) => {
              if (received.length >= n) return done(received);
              const timer = setTimeout(() => {
                waiters.delete(check);
                fail(new Error(`expected ${n} messages, received ${received.length}`));
              }, timeoutMs);
              const check = () => {
                if (received.length >= n) {
                  clearTimeout(timer);
                  waiters.delete(check);
                  done(received);
                }
              };
              waiters.add(check);
            }),
          close: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGKILL');
            }),
        });
        return;
      }
      received.push(record);
      for (const waiter of [...waiters]) waiter();
    });
  });
}
