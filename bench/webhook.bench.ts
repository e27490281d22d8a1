/**
 * npm run bench:webhook — signed SNS notifications (SES Delivery, Bounce and Complaint events) posted to
 * a real `digestmail serve` process as fast as it takes them, over 64 connections (autocannon), against
 * the real PostgreSQL. Prints notifications/s and latency, then counts rows to show nothing was lost:
 * one sns_messages row and one event per notification, and the deliveries and suppressions they imply.
 *
 * BENCH_NOTIFICATIONS (default 20000) sets how many; BENCH_DATABASE_URL the server (default local);
 * BENCH_CPU_PROF=<dir> profiles the server.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { type RunningServe, startServe } from '../tests/helpers/serve.ts';
import { createTestPki, notification, sesFixture, startCertServer, TOPIC_ARN } from '../tests/sns.signer.ts';
import { fmt, freshMigratedDatabase } from './bench.util.ts';

interface AutocannonResult {
  duration: number;
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const N = Number(process.env.BENCH_NOTIFICATIONS ?? 20_000);
const CONNECTIONS = 64;

async function main(): Promise<void> {
  const { url, handle } = await freshMigratedDatabase('dm_bench_webhook');
  const db = handle.db;

  // One issue to N readers, every delivery sent through SES (so each has an SES MessageId).
  const list = await db
    .insertInto('lists')
    .values({ slug: 'bench', name: 'Bench' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const issue = await db
    .insertInto('issues')
    .values({
      list_id: list.id,
      status: 'sent',
      subject: 's',
      title: 't',
      digest_source: '#',
      digest_hash: 'h',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`insert into subscribers (email) select 'reader' || g || '@example.net' from generate_series(1, ${N}) g`.execute(
    db,
  );
  await sql`insert into subscriptions (subscriber_id, list_id, status, confirmed_at)
            select id, ${list.id}, 'confirmed', now() from subscribers`.execute(db);
  await sql`insert into deliveries (issue_id, subscriber_id, email, status, sent_at, provider_message_id, message_id)
            select ${issue.id}, id, email, 'sent', now(), 'ses-' || id, '<' || id || '@news.example.org>' from subscribers`.execute(
    db,
  );
  // Deliveries have no insert trigger: whoever inserts them writes their count (as enqueue does).
  await sql`insert into delivery_counts (issue_id, status, n) values (${issue.id}, 'sent', ${N})`.execute(db);

  const pki = createTestPki();
  const certs = await startCertServer(pki);
  const dataDir = mkdtempSync(join(tmpdir(), 'dm-bench-webhook-'));
  let server: RunningServe | undefined;
  try {
    // 70 % Delivery, 15 % Permanent bounce, 10 % Transient bounce, 5 % Complaint: one per reader.
    process.stdout.write(`signing ${fmt(N)} notifications (SHA256withRSA)… `);
    const kinds = { delivery: 0, hard: 0, soft: 0, complaint: 0 };
    const bodies: string[] = [];
    for (let i = 1; i <= N; i++) {
      const values = {
        EMAIL: `reader${i}@example.net`,
        SES_MESSAGE_ID: `ses-${i}`,
        FEEDBACK_ID: randomUUID(),
        TIMESTAMP: new Date().toISOString(),
      };
      const r = i % 20;
      let event: Record<string, unknown>;
      if (r < 14) {
        kinds.delivery++;
        event = sesFixture('delivery', values);
      } else if (r < 17) {
        kinds.hard++;
        event = sesFixture('bounce', {
          ...values,
          BOUNCE_TYPE: 'Permanent',
          BOUNCE_SUBTYPE: 'General',
          STATUS: '5.1.1',
          DIAGNOSTIC: 'unknown',
        });
      } else if (r < 19) {
        kinds.soft++;
        event = sesFixture('bounce', {
          ...values,
          BOUNCE_TYPE: 'Transient',
          BOUNCE_SUBTYPE: 'MailboxFull',
          STATUS: '4.2.2',
          DIAGNOSTIC: 'full',
        });
      } else {
        kinds.complaint++;
        event = sesFixture('complaint', values);
      }
      bodies.push(
        JSON.stringify(notification(event, { key: pki.signingKey, certUrl: certs.certUrl, version: '2' })),
      );
    }
    console.log('done');

    // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the server there (open it in Chrome DevTools).
    const profile = process.env.BENCH_CPU_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
      : [];
    server = await startServe(
      {
        DATABASE_URL: url,
        DATA_DIR: dataDir,
        SECRET_KEY: 'bench-webhook-secret-0123456789abcdef012345',
        MAIL_URL: `outbox:${join(dataDir, 'outbox')}`,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        SNS_TOPIC_ARNS: TOPIC_ARN,
        SNS_CERT_HOST_PATTERN: '^127\\.0\\.0\\.1$',
        NODE_EXTRA_CA_CERTS: pki.caPath,
      },
      { nodeArgs: profile },
    );
    const base = server.url;

    let next = 0;
    const result = await autocannon({
      url: `${base}/webhooks/ses`,
      connections: CONNECTIONS,
      amount: N,
      timeout: 30,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
          setupRequest: (request: Record<string, unknown>) => ({ ...request, body: bodies[next++ % N] }),
        },
      ],
    });

    const count = async (query: ReturnType<typeof sql<{ n: number }>>) =>
      Number((await query.execute(db)).rows[0]?.n ?? 0);
    const rows = {
      sns: await count(sql`select count(*)::int as n from sns_messages`),
      events: await count(sql`select count(*)::int as n from events`),
      delivered: await count(sql`select count(*)::int as n from deliveries where status = 'delivered'`),
      bounced: await count(sql`select count(*)::int as n from deliveries where status = 'bounced'`),
      complained: await count(sql`select count(*)::int as n from deliveries where status = 'complained'`),
      suppressed: await count(sql`select count(*)::int as n from suppressions`),
      unsubscribed: await count(
        sql`select count(*)::int as n from subscriptions where status = 'unsubscribed'`,
      ),
    };
    const expected = {
      sns: N,
      events: N,
      delivered: kinds.delivery,
      bounced: kinds.hard + kinds.soft,
      complained: kinds.complaint,
      suppressed: kinds.hard + kinds.complaint,
      unsubscribed: kinds.complaint,
    };
    const lost = Object.entries(expected).filter(([k, v]) => rows[k as keyof typeof rows] !== v);

    console.log('');
    console.log(
      `notifications posted     ${fmt(N)} over ${CONNECTIONS} connections (${fmt(kinds.delivery)} Delivery, ${fmt(kinds.hard)} Permanent, ${fmt(kinds.soft)} Transient, ${fmt(kinds.complaint)} Complaint)`,
    );
    console.log(
      `answered 2xx             ${fmt(result['2xx'])} (non-2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts})`,
    );
    console.log(`duration                 ${fmt(result.duration, 2)} s`);
    console.log(`notifications/s          ${fmt(result['2xx'] / result.duration)}   (target ≥ 1,000)`);
    console.log(
      `latency p50 / p99 / max  ${result.latency.p50} / ${result.latency.p99} / ${result.latency.max} ms`,
    );
    console.log(
      'rows afterwards          ' +
        Object.entries(rows)
          .map(([k, v]) => `${k} ${fmt(v)}`)
          .join(', '),
    );
    console.log(
      lost.length === 0
        ? 'nothing lost: every notification has its rows'
        : `LOST: ${lost.map(([k, v]) => `${k} expected ${v}, found ${rows[k as keyof typeof rows]}`).join('; ')}`,
    );
    if (lost.length > 0 || result.non2xx > 0 || result.errors > 0) process.exitCode = 1;
  } finally {
    await server?.stop();
    await certs.close();
    pki.remove();
    rmSync(dataDir, { recursive: true, force: true });
    await handle.close();
  }
}

await main();
