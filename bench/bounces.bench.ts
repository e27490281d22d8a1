/**
 * npm run bench:bounces — the bounce classifier on the corpus of real bounce messages
 * (tests/fixtures/bounces: 536 messages from 60 kinds of server, with the reference results).
 *
 * Prints, per server and overall, how often we agree with the reference on the recipient and status,
 * and on the reason; how many addresses we would suppress for a reason that is about our mail (the
 * reference says the address is fine), and how many of those are samples where known-differences.json
 * says the reference is arguably wrong; and messages/s through the classifier in this one process,
 * beside a yardstick measured in the same run: mailparser alone reading the same messages (the full
 * MIME parse the classifier used before it read only the parts it needs), and the process CPU time
 * per message, which a busy machine does not change as much.
 *
 * BENCH_ROUNDS (default 5) sets how many times the corpus is classified for the speed figure.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { classifyMail } from '../src/bounces/bounce.classifier.ts';
import { CORPUS_DIR, found, judge, loadCorpus } from '../tests/helpers/bounce-corpus.ts';
import { fmt } from './bench.util.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

interface Tally {
  messages: number;
  recipients: number;
  recipientStatus: number;
  reason: number;
  wrongSuppressions: number;
}

async function main(): Promise<void> {
  const corpus = loadCorpus();
  const known = JSON.parse(readFileSync(join(CORPUS_DIR, 'known-differences.json'), 'utf8')) as Record<
    string,
    string
  >;
  let arguableWrongSuppressions = 0;
  const byServer = new Map<string, Tally>();
  const total: Tally = { messages: 0, recipients: 0, recipientStatus: 0, reason: 0, wrongSuppressions: 0 };
  for (const { sample, raw } of corpus) {
    const results = found(await classifyMail(raw));
    const t = byServer.get(sample.server) ?? {
      messages: 0,
      recipients: 0,
      recipientStatus: 0,
      reason: 0,
      wrongSuppressions: 0,
    };
    byServer.set(sample.server, t);
    for (const tally of [t, total]) tally.messages++;
    for (const [i, expected] of sample.expected.entries()) {
      const v = judge(expected, results);
      if (v.wrongSuppression && /^reference/.test(known[`${sample.file}#${i + 1}`] ?? ''))
        arguableWrongSuppressions++;
      for (const tally of [t, total]) {
        tally.recipients++;
        if (v.recipient && v.status) tally.recipientStatus++;
        if (v.reason) tally.reason++;
        if (v.wrongSuppression) tally.wrongSuppressions++;
      }
    }
  }

  const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(1)} %`;
  console.log(
    `${'server'.padEnd(16)} ${'msgs'.padStart(5)} ${'rcpts'.padStart(5)}  ${'rcpt+status'.padStart(11)}  ${'reason'.padStart(8)}  wrong suppressions`,
  );
  for (const [server, t] of [...byServer].sort(
    (a, b) => b[1].recipients - a[1].recipients || a[0].localeCompare(b[0]),
  )) {
    console.log(
      `${server.padEnd(16)} ${String(t.messages).padStart(5)} ${String(t.recipients).padStart(5)}  ${pct(t.recipientStatus, t.recipients).padStart(11)}  ${pct(t.reason, t.recipients).padStart(8)}  ${t.wrongSuppressions}`,
    );
  }
  console.log(
    `\nall: ${total.messages} messages from ${byServer.size} servers, ${total.recipients} failed recipients: ` +
      `recipient+status ${pct(total.recipientStatus, total.recipients)} (aim ≥ 95 %), reason ${pct(total.reason, total.recipients)} (aim ≥ 90 %), ` +
      `suppressions for reasons about our mail ${total.wrongSuppressions} (aim 0; ${arguableWrongSuppressions} of them where known-differences.json says the reference is arguably wrong)`,
  );

  // Speed: warm up once, then time the same corpus ROUNDS times for each.
  const raws = corpus.map((c) => c.raw);
  const time = async (work: (raw: Buffer) => Promise<unknown>): Promise<[number, number]> => {
    for (const raw of raws.slice(0, 50)) await work(raw);
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let r = 0; r < ROUNDS; r++) for (const raw of raws) await work(raw);
    const used = process.cpuUsage(cpu);
    const n = raws.length * ROUNDS;
    return [n / ((performance.now() - started) / 1000), (used.user + used.system) / 1000 / n];
  };
  const [yardstick, yardstickCpu] = await time((raw) =>
    simpleParser(raw, {
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipImageLinks: true,
      keepDeliveryStatus: true,
    }),
  );
  const [classifier, classifierCpu] = await time((raw) => classifyMail(raw));
  console.log(
    `speed (${fmt(raws.length * ROUNDS)} messages, one process): classifier ${fmt(Math.round(classifier))} msg/s, ` +
      `${classifierCpu.toFixed(2)} ms CPU/msg (aim ≥ 500 msg/s); ` +
      `yardstick, mailparser alone: ${fmt(Math.round(yardstick))} msg/s, ${yardstickCpu.toFixed(2)} ms CPU/msg`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
