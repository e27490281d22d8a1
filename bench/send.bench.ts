/**
 * npm run bench:send — the sender against the real PostgreSQL and Postfix's smtp-sink, each figure
 * beside a yardstick measured in the same run (a busy machine slows both), with the ratio:
 *   1. enqueue one issue to 1,000,000 confirmed readers (one INSERT … SELECT, on tables that were
 *      vacuumed but never analyzed: enqueue sees to its own statistics). Yardstick: the same
 *      1,000,000 (issue, subscriber, address) rows copied from subscribers into a table with the
 *      same columns and indexes as deliveries (CREATE TABLE … LIKE deliveries INCLUDING ALL), once
 *      before and once after the enqueue; aim ≤ 1.5× their mean. Also printed: the copy into a table
 *      with only the primary and unique keys;
 *   2. a `digestmail worker` process dispatches 100,000 of those messages to smtp-sink (its own
 *      process) with every delivery's state committed; yardstick: Postfix's smtp-source sending
 *      messages of the same size over the same number of connections to the same sink; aim ≥ 0.75×;
 *   3. the worker's peak RSS meanwhile (VmHWM); aim < 120 MB.
 * BENCH_RECIPIENTS, BENCH_DISPATCH, BENCH_CONNECTIONS change the sizes. BENCH_PROFILE=<dir> starts the
 * worker with --cpu-prof writing its profile there (the CPU figure then includes the profiler's).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { loadConfig } from '../src/config/config.loader.ts';
import { IssuesService } from '../src/issues/issues.service.ts';
import { MessageBuilder } from '../src/render/message.builder.ts';
import type { IssueTemplate } from '../src/render/render.types.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { fmt, freshMigratedDatabase, requirePostfix, runMeasured, startSmtpSink } from './bench.util.ts';

const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 1_000_000);
const DISPATCH = Number(process.env.BENCH_DISPATCH ?? 100_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const root = fileURLToPath(new URL('..', import.meta.url));
const DIGEST = join(root, 'examples', 'digests', '2026-11-30-ai-daily.md');
const dataDir = join(root, 'bench', '.data', 'send');
mkdirSync(dataDir, { recursive: true });

/** Each aim's verdict, printed beside its figure. */
function met(ok: boolean): string {
  return ok ? 'met' : 'NOT met';
}

function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
}

/** User + system CPU time of a process so far, from /proc (clock ticks of 10 ms). */
function cpuTimeMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function main(): Promise<void> {
  requirePostfix('bench:send', ['/usr/sbin/smtp-sink', '/usr/sbin/smtp-source']);
  const { url, handle } = await freshMigratedDatabase('digestmail_bench_send');
  const env = {
    DATABASE_URL: url,
    DATA_DIR: join(dataDir, 'home'),
    SECRET_KEY: 'bench-secret-key-bench-secret-key-0123456789',
    PUBLIC_URL: 'https://news.example.org',
    MAIL_FROM: 'AI 每日简报 <news@example.org>',
    BOUNCE_ADDRESS: 'bounces@example.org',
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig({ ...process.env, ...env });
  const db = handle.db;

  process.stdout.write(`seeding ${fmt(RECIPIENTS)} confirmed readers … `);
  let t = performance.now();
  await sql`insert into lists (slug, name, opt_in) values ('ai-daily', 'AI 每日简报', 'single')`.execute(db);
  await sql`insert into subscribers (email, name)
            select 'reader' || g || '@example' || (g % 97) || '.org', '读者 ' || g
              from generate_series(1, ${RECIPIENTS}::int) g`.execute(db);
  await sql`insert into subscriptions (subscriber_id, list_id, status, confirmed_at)
            select id, 1, 'confirmed', now() from subscribers`.execute(db);
  // Vacuumed (hint bits, visibility map: the same for the yardstick) but not analyzed, as right
  // after a big import: enqueue must not depend on someone having run ANALYZE.
  await sql`vacuum`.execute(db);
  console.log(`${((performance.now() - t) / 1000).toFixed(1)} s (not measured)`);

  const issues = new IssuesService(db, config);
  const issue = await issues.create({ digestPath: DIGEST, listSlug: 'ai-daily' });

  /** The yardstick: the same rows, copied without the eligibility rule into a table like deliveries. */
  const copy = async (like: 'all' | 'keys'): Promise<number> => {
    await sql`drop table if exists bench_copy`.execute(db);
    if (like === 'all') {
      await sql`create table bench_copy (like deliveries including all)`.execute(db);
    } else {
      await sql`create table bench_copy (like deliveries including defaults including identity including constraints)`.execute(
        db,
      );
      await sql`alter table bench_copy add primary key (id), add unique (issue_id, subscriber_id)`.execute(
        db,
      );
    }
    await sql`checkpoint`.execute(db);
    const started = performance.now();
    await sql`insert into bench_copy (issue_id, subscriber_id, email)
              select ${issue.id}::int, id, email from subscribers`.execute(db);
    const seconds = (performance.now() - started) / 1000;
    await sql`drop table bench_copy`.execute(db);
    return seconds;
  };
  const copyBefore = await copy('all');
  const copyKeys = await copy('keys');
  await sql`checkpoint`.execute(db);
  t = performance.now();
  const { enqueued } = await issues.send(String(issue.id));
  const enqueueSeconds = (performance.now() - t) / 1000;
  const copyAfter = await copy('all');
  const yardstick = (copyBefore + copyAfter) / 2;
  const indexes = await sql<{ name: string }>`
    select indexname as name from pg_indexes where tablename = 'deliveries' order by indexname`.execute(db);
  console.log(
    `yardstick: copy of the same ${fmt(RECIPIENTS)} rows into a table like deliveries (${indexes.rows.map((r) => r.name.replace(/^deliveries_/, '')).join(', ')}): ${copyBefore.toFixed(2)} s before, ${copyAfter.toFixed(2)} s after the enqueue (mean ${yardstick.toFixed(2)} s); with only the primary and unique keys ${copyKeys.toFixed(2)} s`,
  );
  console.log(
    `enqueue: ${fmt(enqueued)} deliveries in ${enqueueSeconds.toFixed(2)} s = ${(enqueueSeconds / yardstick).toFixed(2)}× the same-index copy (aim ≤ 1.5×: ${met(enqueueSeconds / yardstick <= 1.5)}), ${(enqueueSeconds / copyKeys).toFixed(2)}× the keys-only copy`,
  );

  // The size of what goes on the wire, for smtp-source to send the same.
  const template = (
    await db.selectFrom('issues').select('template').where('id', '=', issue.id).executeTakeFirstOrThrow()
  ).template as IssueTemplate;
  const sample = new MessageBuilder(config, new TokenSigner(config.SECRET_KEY)).build(
    { id: issue.id, template, list: { id: 1, slug: 'ai-daily', name: 'AI 每日简报' } },
    { email: 'reader1@example1.org', name: '读者 1', subscriberId: 1, deliveryId: 1 },
  );
  const size = sample.raw.length;
  console.log(`message size: ${fmt(size)} bytes (digest ${DIGEST.replace(root, '')})`);

  const sink = await startSmtpSink();
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  const worker = spawn(process.execPath, [...profile, join(root, 'bin', 'digestmail.js'), 'worker'], {
    env: {
      ...process.env,
      ...env,
      MAIL_URL: `smtp://127.0.0.1:${sink.port}`,
      SEND_RATE: '1000000',
      SEND_CONCURRENCY: String(CONNECTIONS),
      SEND_BATCH_SIZE: '500',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const started = performance.now();
  let sent = 0;
  while (sent < DISPATCH) {
    await new Promise((r) => setTimeout(r, 500));
    // From the kept counts (migration 140): counting a million deliveries twice a second would
    // take CPU from the worker being measured.
    const row = await sql<{
      n: number;
    }>`select coalesce(sum(n), 0)::int as n from delivery_counts where status = 'sent'`.execute(db);
    sent = row.rows[0]!.n;
    if (worker.exitCode !== null) throw new Error(`the worker exited early (${worker.exitCode})`);
  }
  const wall = (performance.now() - started) / 1000;
  const rss = peakRssMiB(worker.pid!);
  const cpuMs = cpuTimeMs(worker.pid!);
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
  // Rate over the first DISPATCH messages by their committed send times (process start excluded).
  const span = await sql<{ seconds: number }>`
    select extract(epoch from max(sent_at) - min(sent_at))::float8 as seconds
      from (select sent_at from deliveries where status = 'sent' order by sent_at limit ${DISPATCH}) s
  `.execute(db);
  const seconds = span.rows[0]!.seconds;
  const rate = DISPATCH / seconds;
  const leftovers = await sql<{
    n: number;
  }>`select count(*)::int as n from deliveries where status = 'sending'`.execute(db);
  console.log(
    `dispatch: ${fmt(DISPATCH)} messages over ${CONNECTIONS} connections in ${seconds.toFixed(1)} s = ${fmt(rate)} msg/s; ${fmt(wall, 1)} s with start-up; worker CPU ${fmt(cpuMs / DISPATCH, 3)} ms per message`,
  );
  console.log(
    `worker peak RSS: ${fmt(rss)} MiB = ${fmt((rss * 1024 * 1024) / 1e6)} MB (aim < 120 MB: ${met((rss * 1024 * 1024) / 1e6 < 120)}); deliveries left 'sending' after stop: ${leftovers.rows[0]!.n}`,
  );

  const source = await runMeasured(
    '/usr/sbin/smtp-source',
    [
      '-s',
      String(CONNECTIONS),
      '-l',
      String(size),
      '-m',
      String(DISPATCH),
      '-f',
      'bench@example.org',
      '-t',
      'sink@example.org',
      `127.0.0.1:${sink.port}`,
    ],
    {},
  );
  if (source.code !== 0) throw new Error(`smtp-source failed: ${source.stderr}`);
  const ceiling = DISPATCH / source.seconds;
  console.log(
    `smtp-source: ${fmt(DISPATCH)} messages of ${fmt(size)} bytes over ${CONNECTIONS} connections in ${source.seconds.toFixed(1)} s = ${fmt(ceiling)} msg/s`,
  );
  console.log(
    `dispatch / smtp-source: ${(rate / ceiling).toFixed(2)}× (aim ≥ 0.75×: ${met(rate / ceiling >= 0.75)})`,
  );
  console.log(
    `finished ${new Date().toISOString()}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (1, 5, 15 min)`,
  );

  sink.stop();
  await handle.close();
}

await main();
