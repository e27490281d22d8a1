import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { IssuesService } from '../issues/issues.service.ts';
import { TestSendService } from '../issues/issues.test-send.ts';
import { renderPreview } from '../render/preview.ts';
import { ListsService } from '../subscriptions/lists.service.ts';
import { SubscribersService } from '../subscriptions/subscribers.service.ts';
import { createTransport } from '../transports/transport.factory.ts';
import { PACKAGE_ROOT } from '../core/package-root.ts';
import { withContext } from './cli.context.ts';
import { waitForIssue } from './issue.commands.ts';

const SAMPLE_DIGEST = join(PACKAGE_ROOT, 'examples/digests/2026-11-30-ai-daily.md');
const READERS = 200;

/**
 * `digestmail demo` (npm run demo): the main job end to end with nothing installed — the embedded
 * database and the outbox transport in a folder of its own, reset on every run so it can be run
 * again and again. It never touches DATABASE_URL or MAIL_URL: a demo must not mail real people.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a whole send on the embedded database, writing .eml files instead of mailing anyone')
    .option('--dir <dir>', 'where the demo keeps its data', '.digestmail/demo')
    .action(async (o: { dir: string }) => {
      const dir = resolve(o.dir);
      rmSync(dir, { recursive: true, force: true });
      process.env.DATA_DIR = dir;
      delete process.env.DATABASE_URL;
      delete process.env.MAIL_URL;
      // Slow enough to watch the progress bar, fast enough not to wait for it.
      process.env.SEND_RATE ||= '80';
      const step = (command: string) => process.stdout.write(`\n$ digestmail ${command}\n`);
      const shown = (path: string) => relative(process.cwd(), path) || '.';

      const code = await withContext(async ({ db, config }) => {
        step('list create ai-daily --name "AI 每日简报" --language zh-CN --single-opt-in');
        const list = await new ListsService(db).create({
          slug: 'ai-daily',
          name: 'AI 每日简报',
          language: 'zh-CN',
          optIn: 'single',
          topics: ['人工智能', '开源模型', '算力', '数据治理'],
        });
        console.log(`created list ${list.slug} (id ${list.id})`);

        const csv = join(dir, 'sample-readers.csv');
        writeFileSync(
          csv,
          `email,name\n${Array.from({ length: READERS }, (_, i) => `reader${i + 1}@example.com,读者 ${i + 1}`).join('\n')}\n`,
        );
        step(`subscribers import ${shown(csv)} --list ai-daily`);
        const subscribers = new SubscribersService(db);
        const report = await subscribers.import(csv, 'ai-daily', 'confirmed');
        console.log(`imported ${report.imported} confirmed readers`);
        for (const email of ['pending1@example.com', 'pending2@example.com']) {
          await subscribers.add({ email, listSlug: 'ai-daily', status: 'pending' });
        }
        console.log('added 2 readers who have not confirmed yet (they get nothing)');

        step(`issue preview ${shown(SAMPLE_DIGEST)}`);
        const preview = await renderPreview(SAMPLE_DIGEST, { config, outDir: join(dir, 'preview') });
        console.log(`${preview.files.html}\n${preview.files.eml}`);

        step(`issue create ${shown(SAMPLE_DIGEST)} --list ai-daily`);
        const issues = new IssuesService(db, config);
        const issue = await issues.create({ digestPath: SAMPLE_DIGEST, listSlug: 'ai-daily' });
        console.log(issue.id);

        step(`issue test ${issue.id} --to editor@example.com`);
        const transport = createTransport(config);
        try {
          for (const sent of await new TestSendService(db, config, transport).send(
            String(issue.id),
            'editor@example.com',
          )) {
            console.log(`test sent to ${sent.to} (${sent.response})`);
          }
        } finally {
          await transport.close();
        }

        step(`issue send ${issue.id} --wait`);
        const { enqueued } = await issues.send(String(issue.id));
        console.log(`${enqueued} deliveries queued`);
        const result = await waitForIssue(db, config, issues, issue.id);

        const outbox = config.MAIL_URL.slice('outbox:'.length);
        const files = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
        console.log(`
Done. Nothing left this machine:
  ${files.length} messages written as .eml files to ${outbox}
  the rendered preview (open in a browser): ${preview.files.html}
  the data of this demo: ${dir} (reset on every run)
Next: send through a real server with MAIL_URL=smtp://user:pass@host:587, and see README.md.`);
        return result;
      });
      process.exitCode = code;
    });
}
