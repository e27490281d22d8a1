import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliInProcess } from './helpers/cli.ts';
import { type RunningServe, startServe } from './helpers/serve.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';
import { AWS_TEST_ENV, type LocalSes, startLocalSes } from './ses.local.ts';
import {
  type CertServer,
  createTestPki,
  notification,
  sesFixture,
  startCertServer,
  type TestPki,
  TOPIC_ARN,
} from './sns.signer.ts';

const DIGEST = fileURLToPath(new URL('./fixtures/sender/2026-11-20-weekly-notes.md', import.meta.url));
const READERS = [
  'ana@example.net',
  'bo@example.net',
  'chen@example.net',
  'dara@example.net',
  'eli@example.net',
];

let database: TestDatabase;
let ses: LocalSes;
let pki: TestPki;
let certs: CertServer;
let dataDir: string;
let server: RunningServe | undefined;
let baseUrl: string;

const env = (endpoint = ses.endpoint) => ({
  ...AWS_TEST_ENV,
  DATABASE_URL: database.url,
  DATA_DIR: dataDir,
  SECRET_KEY: 'ses-e2e-secret-0123456789abcdef0123456789',
  MAIL_URL: 'ses://us-east-1?configurationSet=digestmail',
  SES_ENDPOINT: endpoint,
  MAIL_FROM: 'AI Daily <news@news.example.org>',
  SEND_RATE: '50',
  RETRY_BASE_SECONDS: '0.05',
  SNS_TOPIC_ARNS: TOPIC_ARN,
  SNS_CERT_HOST_PATTERN: '^127\\.0\\.0\\.1$',
  LOG_LEVEL: 'warn',
  METRICS_TOKEN: 'ses-e2e-metrics-token-0123456789',
});

async function cli(args: string[], options: { endpoint?: string; allowFailure?: boolean } = {}) {
  // `issue send --wait` runs a sender loop until the issue is done: a process of its own, as a user
  // runs it; the short commands run in this process.
  const res = args.includes('--wait')
    ? await runCli(args, env(options.endpoint), { timeoutMs: 120_000 })
    : await runCliInProcess(args, env(options.endpoint));
  if (res.code !== 0 && !options.allowFailure)
    throw new Error(`digestmail ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return res;
}

/** `digestmail serve` in its own process, trusting the test CA the way an operator would: NODE_EXTRA_CA_CERTS. */
async function startDigestmailServe(): Promise<void> {
  server = await startServe({ ...env(), NODE_EXTRA_CA_CERTS: pki.caPath, NODE_ENV: 'test' });
  baseUrl = server.url;
}

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  dataDir = mkdtempSync(join(tmpdir(), 'dm-ses-e2e-'));
  // Every fourth SendEmail is throttled: the worker must slow down and retry, never drop.
  ses = await startLocalSes({ throttle: (n) => n % 4 === 0 });
  pki = createTestPki();
  certs = await startCertServer(pki);
});

/** `serve` also runs a sender: stop it before another test sends through a different endpoint. */
async function stopServe(): Promise<void> {
  await server?.stop();
  server = undefined;
}

afterAll(async () => {
  await stopServe();
  await certs?.close();
  pki?.remove();
  await ses?.close();
  rmSync(dataDir, { recursive: true, force: true });
  await database?.close();
});

async function sendIssue(): Promise<number> {
  const created = await cli(['issue', 'create', DIGEST, '--list', 'ai-daily']);
  const id = Number(created.stdout.trim().match(/\d+/)?.[0]);
  await cli(['issue', 'send', String(id), '--wait']);
  return id;
}

// Each step is a real CLI process on a shared, busy machine: a generous limit, not a timing assertion.
describe('end to end through SES', { timeout: 240_000 }, () => {
  it('bounce and complaint notifications for two readers stop every later issue to them', async () => {
    await cli(['list', 'create', 'ai-daily', '--name', 'AI Daily', '--single-opt-in']);
    await cli(['list', 'create', 'tech-weekly', '--name', 'Tech Weekly', '--single-opt-in']);
    for (const email of READERS) await cli(['subscribers', 'add', email, '--list', 'ai-daily']);
    await cli(['subscribers', 'add', 'bo@example.net', '--list', 'tech-weekly']);

    const first = await sendIssue();
    const firstSends = ses.accepted().filter((a) => a.tags.issue === String(first));
    expect(firstSends.map((a) => a.to[0]).sort()).toEqual([...READERS].sort());
    expect(ses.throttled()).toBeGreaterThan(0);
    for (const send of firstSends) {
      expect(send.configurationSet).toBe('digestmail');
      expect(send.raw).toMatch(new RegExp(`^X-Digestmail-Issue: ${first}\\r$`, 'm'));
      expect(send.raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
    }
    const deliveries = await database.db
      .selectFrom('deliveries')
      .selectAll()
      .where('issue_id', '=', first)
      .execute();
    for (const d of deliveries) {
      const send = firstSends.find((s) => s.to[0] === d.email)!;
      expect(d.provider_message_id).toBe(send.messageId);
      expect(send.tags.delivery).toBe(String(d.id));
      expect(send.raw).toContain(`Message-ID: ${d.message_id}`);
    }

    await startDigestmailServe();
    const byEmail = (email: string) => deliveries.find((d) => d.email === email)!;
    const post = (message: unknown) =>
      fetch(`${baseUrl}/webhooks/ses`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
        body: JSON.stringify(notification(message, { key: pki.signingKey, certUrl: certs.certUrl })),
      });
    const common = (email: string) => ({
      EMAIL: email,
      SES_MESSAGE_ID: byEmail(email).provider_message_id!,
      FEEDBACK_ID: `${email}-feedback`,
      TIMESTAMP: new Date().toISOString(),
    });
    const bounce = await post(
      sesFixture('bounce', {
        ...common('ana@example.net'),
        BOUNCE_TYPE: 'Permanent',
        BOUNCE_SUBTYPE: 'General',
        STATUS: '5.1.1',
        DIAGNOSTIC: 'user unknown',
      }),
    );
    expect(bounce.status).toBe(200);
    const complaint = await post(sesFixture('complaint', common('bo@example.net')));
    expect(complaint.status).toBe(200);
    const delivered = await post(sesFixture('delivery', common('chen@example.net')));
    expect(delivered.status).toBe(200);
    // A forged one (signed by a key that is not the certificate's) for another reader changes nothing.
    const stranger = createTestPki();
    const forged = await fetch(`${baseUrl}/webhooks/ses`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(
        notification(sesFixture('complaint', common('dara@example.net')), {
          key: stranger.signingKey,
          certUrl: certs.certUrl,
        }),
      ),
    });
    stranger.remove();
    expect(forged.status).toBe(403);

    const status = JSON.parse((await cli(['issue', 'status', String(first), '--json'])).stdout);
    expect(status.counts).toMatchObject({
      total: 5,
      bounced: 1,
      complained: 1,
      delivered: 1,
      sent: 2,
      failed: 0,
    });

    const metrics = await (
      await fetch(`${baseUrl}/metrics`, {
        headers: { authorization: 'Bearer ses-e2e-metrics-token-0123456789' },
      })
    ).text();
    expect(metrics).toMatch(/^digestmail_bounces_total\{type="hard"\} 1$/m);
    expect(metrics).toMatch(/^digestmail_complaints_total 1$/m);
    expect(metrics).toMatch(/^digestmail_messages_sent_total 5$/m);
    expect(metrics).toMatch(/^digestmail_queue_depth 0$/m);
    expect(metrics).toMatch(/^digestmail_deliveries\{status="complained"\} 1$/m);

    const suppressions = JSON.parse((await cli(['suppressions', 'ls', '--json'])).stdout) as {
      email: string;
      reason: string;
    }[];
    expect(suppressions.map((s) => [s.email, s.reason]).sort()).toEqual([
      ['ana@example.net', 'hard_bounce'],
      ['bo@example.net', 'complaint'],
    ]);
    const boSubs = await database.db
      .selectFrom('subscriptions as s')
      .innerJoin('subscribers as r', 'r.id', 's.subscriber_id')
      .select('s.status')
      .where('r.email', '=', 'bo@example.net')
      .execute();
    expect(boSubs.map((s) => s.status)).toEqual(['unsubscribed', 'unsubscribed']);

    await stopServe();
    const second = await sendIssue();
    const secondSends = ses.accepted().filter((a) => a.tags.issue === String(second));
    expect(secondSends.map((a) => a.to[0]).sort()).toEqual([
      'chen@example.net',
      'dara@example.net',
      'eli@example.net',
    ]);
  });

  it('a suspended SES account pauses the issue with the reason in its status instead of burning through the list', async () => {
    const readers = Array.from({ length: 6 }, (_, i) => `paused${i}@example.net`);
    const suspended = await startLocalSes({
      errorsFor: Object.fromEntries(readers.map((r) => [r, 'AccountSuspendedException'])),
    });
    try {
      await cli(['list', 'create', 'paused-list', '--name', 'Paused', '--single-opt-in']);
      for (const email of readers) await cli(['subscribers', 'add', email, '--list', 'paused-list']);
      const created = await cli(['issue', 'create', DIGEST, '--list', 'paused-list']);
      const id = String(Number(created.stdout.trim().match(/\d+/)?.[0]));
      const send = await cli(['issue', 'send', id, '--wait'], {
        endpoint: suspended.endpoint,
        allowFailure: true,
      });
      expect(send.code).toBe(1);
      const status = JSON.parse((await cli(['issue', 'status', id, '--json'])).stdout);
      expect(status.status).toBe('paused');
      expect(status.pause_reason).toMatch(/suspended/i);
      expect(status.counts.failed).toBe(0);
      expect(status.counts.queued + status.counts.sending).toBeGreaterThan(0);
      expect(suspended.accepted()).toHaveLength(0);
    } finally {
      await suspended.close();
    }
  });
});
