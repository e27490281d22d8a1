import { execFileSync } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Test support for SNS: a throwaway CA, a TLS certificate for 127.0.0.1 signed by it, and an SNS
 * signing key with its certificate, all made with openssl; an HTTPS server that serves the signing
 * certificate (and answers SubscribeURLs), and a signer that signs messages the way SNS does.
 */

export interface TestPki {
  dir: string;
  caPem: string;
  caPath: string;
  serverKey: string;
  serverCert: string;
  signingKey: string;
  signingCert: string;
  remove(): void;
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'dm-sns-pki-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=digestmail test CA',
  );
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n',
  );
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'signing.key',
    '-out',
    'signing.csr',
    '-subj',
    '/CN=sns.amazonaws.com',
  );
  run(
    'x509',
    '-req',
    '-in',
    'signing.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'signing.pem',
    '-days',
    '2',
  );
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  return {
    dir,
    caPem: read('ca.pem'),
    caPath: join(dir, 'ca.pem'),
    serverKey: read('server.key'),
    serverCert: read('server.pem'),
    signingKey: read('signing.key'),
    signingCert: read('signing.pem'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface CertServer {
  origin: string;
  certUrl: string;
  /** How many times each path was requested. */
  hits(path: string): number;
  close(): Promise<void>;
}

/** HTTPS on 127.0.0.1 (port 0): the signing certificate at /SimpleNotificationService-test.pem, 200 on /confirm. */
export async function startCertServer(pki: TestPki): Promise<CertServer> {
  const counts = new Map<string, number>();
  const server: Server = createServer({ key: pki.serverKey, cert: pki.serverCert }, (req, res) => {
    const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    if (path === '/SimpleNotificationService-test.pem') {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(pki.signingCert);
    } else if (path === '/confirm') {
      res.writeHead(200, { 'content-type': 'text/xml' }).end('<ConfirmSubscriptionResponse/>');
    } else {
      res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const origin = `https://127.0.0.1:${port}`;
  return {
    origin,
    certUrl: `${origin}/SimpleNotificationService-test.pem`,
    hits: (path) => counts.get(path) ?? 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:digestmail-ses-events';

export type SnsFields = Record<string, string>;

const SIGNED: Record<string, string[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: [
    'Message',
    'MessageId',
    'SubscribeURL',
    'Timestamp',
    'Token',
    'TopicArn',
    'Type',
  ],
};

/** Signs like SNS: the canonical string of the present fields, SHA1withRSA (v1) or SHA256withRSA (v2). */
export function signSns(fields: SnsFields, key: string, version: '1' | '2' = '1'): SnsFields {
  let canonical = '';
  for (const name of SIGNED[fields.Type ?? 'Notification'] ?? []) {
    if (fields[name] !== undefined) canonical += `${name}\n${fields[name]}\n`;
  }
  const signer = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  signer.update(canonical, 'utf8');
  return { ...fields, SignatureVersion: version, Signature: signer.sign(key, 'base64') };
}

/** A signed SNS Notification carrying `message` (an SES event object). */
export function notification(
  message: unknown,
  options: {
    key: string;
    certUrl: string;
    version?: '1' | '2';
    messageId?: string;
    timestamp?: Date;
    topicArn?: string;
  },
): SnsFields {
  return signSns(
    {
      Type: 'Notification',
      MessageId: options.messageId ?? randomUUID(),
      TopicArn: options.topicArn ?? TOPIC_ARN,
      Message: typeof message === 'string' ? message : JSON.stringify(message),
      Timestamp: (options.timestamp ?? new Date()).toISOString(),
      SigningCertURL: options.certUrl,
      UnsubscribeURL: `${new URL(options.certUrl).origin}/unsubscribe`,
    },
    options.key,
    options.version ?? '1',
  );
}

const FIXTURES = new URL('./fixtures/sns/', import.meta.url);

/** Loads tests/fixtures/sns/<name>.json with each `__KEY__` replaced by values[KEY]. */
export function sesFixture(name: string, values: Record<string, string>): Record<string, unknown> {
  let text = readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8');
  for (const [key, value] of Object.entries(values)) text = text.replaceAll(`__${key}__`, value);
  const left = text.match(/__[A-Z_]+__/);
  if (left) throw new Error(`fixture ${name} still has ${left[0]}`);
  return JSON.parse(text);
}
