/**
 * npm run bench:render — how fast a digest becomes an issue, and how fast an issue becomes
 * personalised messages.
 *
 * 1. parse + compile (Markdown → Digest → MJML → IssueTemplate) of a digest the size of a real daily
 *    (tests/fixtures/digests/zh-daily.md, ~5 KB, the size of the shared example): median of warm runs.
 * 2. personalised messages per second from one compiled issue: slots filled, two tokens signed
 *    (three with VERP), full MIME built — on one core (this loop is single-threaded). Also with DKIM.
 * 3. system mail (confirmation) renders per second, for the signup path: as the outbox sender makes
 *    them (HTML template encoded once, links spliced in) and encoding each message whole.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../src/config/config.loader.ts';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { MessageBuilder } from '../src/render/message.builder.ts';
import { renderSystemMail, renderSystemMailParts } from '../src/render/system-mail.ts';
import { TokenSigner } from '../src/core/tokens.ts';

const FIXTURE = new URL('../tests/fixtures/digests/zh-daily.md', import.meta.url);
const source = readFileSync(FIXTURE, 'utf8');
const baseEnv = {
  NODE_ENV: 'test',
  SECRET_KEY: 'bench-render-secret-key-0123456789abcdef',
  DATA_DIR: '/nonexistent/digestmail-bench',
  PUBLIC_URL: 'https://news.example.org',
  MAIL_FROM: 'AI 日报 <news@example.org>',
  BOUNCE_ADDRESS: 'Bounces <bounces@mail.example.org>',
  ORG_NAME: '晨读科技',
  POSTAL_ADDRESS: '上海市徐汇区漕溪北路 1 号',
};
const config = loadConfig(baseEnv);
const list = { id: 1, slug: 'ai-daily', name: 'AI 日报' };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function compileFigures(): Promise<void> {
  const timings: number[] = [];
  const parseTimings: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t0 = performance.now();
    const digest = parseDigest(source, 'zh-daily.md');
    const t1 = performance.now();
    await compileIssue(digest, { config, list });
    const t2 = performance.now();
    if (i >= 10) {
      timings.push(t2 - t0);
      parseTimings.push(t1 - t0);
    }
  }
  console.log(`digest: ${FIXTURE.pathname.split('/').slice(-1)[0]} (${Buffer.byteLength(source)} bytes)`);
  console.log(
    `parse + compile: median ${median(timings).toFixed(1)} ms, p95 ${percentile(timings, 0.95).toFixed(1)} ms ` +
      `(parse alone: median ${median(parseTimings).toFixed(2)} ms; 50 warm runs after 10 warm-up; target ≤ 30 ms)`,
  );
}

async function messageFigures(label: string, env: Record<string, string>, seconds: number): Promise<void> {
  const cfg = loadConfig({ ...baseEnv, ...env });
  const builder = new MessageBuilder(cfg, new TokenSigner(cfg.SECRET_KEY));
  const template = await compileIssue(parseDigest(source, 'zh-daily.md'), { config: cfg, list });
  const issue = { id: 1, template, list };
  // Warm-up: JIT and the per-issue precomputation.
  for (let i = 0; i < 2000; i++) {
    builder.build(issue, {
      email: `r${i}@example.com`,
      name: i % 2 ? '读者' : null,
      subscriberId: i,
      deliveryId: i,
    });
  }
  let n = 0;
  let bytes = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 500; k++, n++) {
      const m = builder.build(issue, {
        email: `reader${n}@example.com`,
        name: n % 2 ? `读者 ${n}` : null,
        subscriberId: n,
        deliveryId: n,
      });
      bytes += m.raw.length;
    }
  }
  const elapsed = (performance.now() - start) / 1000;
  console.log(
    `messages/s (${label}): ${Math.round(n / elapsed).toLocaleString('en')} ` +
      `(${n.toLocaleString('en')} messages in ${elapsed.toFixed(1)} s, average ${(bytes / n / 1024).toFixed(1)} KB each)`,
  );
}

async function systemMailFigures(): Promise<void> {
  const input = {
    lang: 'zh-CN',
    listNames: ['AI 日报'],
    name: '读者',
    actionUrl: 'https://news.example.org/confirm/x',
    config,
  };
  const builder = new MessageBuilder(config, new TokenSigner(config.SECRET_KEY));
  for (let i = 0; i < 200; i++) await renderSystemMail('confirm', input);
  const whole = await perSecond(async (n) => {
    const mail = await renderSystemMail('confirm', {
      ...input,
      actionUrl: `https://news.example.org/confirm/${n}`,
    });
    builder.buildTransactional({ to: `r${n}@example.com`, ...mail, kind: 'confirm' });
  });
  // As the outbox sender makes them: the HTML a template shared by every such mail, encoded once.
  const spliced = await perSecond(async (n) => {
    const mail = await renderSystemMailParts('confirm', {
      ...input,
      actionUrl: `https://news.example.org/confirm/${n}`,
    });
    builder.buildTransactional({
      to: `r${n}@example.com`,
      subject: mail.subject,
      html: { template: mail.html, values: mail.htmlValues },
      text: mail.text,
      kind: 'confirm',
    });
  });
  console.log(
    `confirmation mails/s (render + MIME): ${Math.round(spliced).toLocaleString('en')} with the HTML encoded once per template (the outbox sender's way); ${Math.round(whole).toLocaleString('en')} encoding each whole`,
  );
}

const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const dkim = { DKIM_DOMAIN: 'example.org', DKIM_SELECTOR: 'bench' };

console.log(`node ${process.version}, one thread`);
await compileFigures();
await messageFigures('no DKIM', {}, 5);
await messageFigures('VERP', { VERP: 'true' }, 3);
await messageFigures('DKIM ed25519', { ...dkim, DKIM_PRIVATE_KEY: ed }, 3);
await messageFigures('DKIM rsa-2048', { ...dkim, DKIM_PRIVATE_KEY: rsa }, 3);
await systemMailFigures();

/** How many times `make` runs per second, run back to back for two seconds. */
async function perSecond(make: (n: number) => Promise<void>): Promise<number> {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 2000) await make(n++);
  return n / ((performance.now() - start) / 1000);
}
