import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/config.loader.ts';
import { isAppError } from '../core/errors.ts';

const GMAIL_CLIP_BYTES = 102 * 1024;
/** Warn well before the clip: a longer greeting or links, or a later edit, should not tip it over. */
const GMAIL_WARN_BYTES = 0.8 * GMAIL_CLIP_BYTES;

/** `digestmail issue preview`: needs no database and no mail server, only the digest file. */
export function registerPreviewCommand(issue: Command): void {
  issue
    .command('preview <digest.md>')
    .description(
      'render a digest to index.html, index.txt and message.eml (the full MIME message) and print their paths',
    )
    .option('--out <dir>', 'output folder (default: out/preview/<digest name>)')
    .option('--to-name <name>', 'the sample reader name used in the greeting')
    .option('--watch', 'render again whenever the file changes (Ctrl-C to stop)')
    .action(async (file: string, o: { out?: string; toName?: string; watch?: boolean }) => {
      const config = loadConfig();
      // MJML loads only for this command, not for every `issue …` (issue status starts without it).
      const { renderPreview } = await import('../render/preview.ts');
      const run = async () => {
        const result = await renderPreview(file, { config, outDir: o.out, toName: o.toName });
        for (const warning of result.digest.warnings) process.stderr.write(`warning: ${warning}\n`);
        if (!/^https:/.test(config.PUBLIC_URL)) {
          process.stderr.write(
            `warning: PUBLIC_URL is ${config.PUBLIC_URL}; mailbox providers expect an https List-Unsubscribe link\n`,
          );
        }
        const { decoded, sent, encoding } = result.htmlSizes;
        const largest = Math.max(decoded, sent);
        if (largest > GMAIL_WARN_BYTES) {
          process.stderr.write(
            `warning: the HTML is ${kb(decoded)} decoded and ${kb(sent)} as sent, over 80 % of the 102 KB at which Gmail clips a message${largest > GMAIL_CLIP_BYTES ? ' (over 102 KB: Gmail will clip it)' : ''}\n`,
          );
        }
        process.stdout.write(
          `${result.files.html}\n${result.files.text}\n${result.files.eml}\n` +
            `${result.digest.items.length} items, ${result.template.lang}, HTML ${kb(decoded)} decoded, ${kb(sent)} as sent (${encoding})\n`,
        );
      };
      if (!o.watch) {
        await run();
        return;
      }
      await watchFile(file, run);
    });
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/** Re-renders on change; a broken save prints its one-line error and waiting goes on. */
async function watchFile(file: string, run: () => Promise<void>): Promise<void> {
  const path = resolve(file);
  const attempt = async () => {
    try {
      await run();
    } catch (error) {
      if (!isAppError(error)) throw error;
      process.stderr.write(`digestmail: ${error.message}\n`);
    }
  };
  await attempt();
  process.stderr.write(`watching ${path} (Ctrl-C to stop)\n`);
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  // The folder is watched, not the file: editors often save by replacing the file.
  const watcher = watch(dirname(path), (_event, changed) => {
    if (changed !== null && changed !== basename(path)) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(attempt);
    }, 120);
  });
  await new Promise<void>((done) => {
    const stop = () => {
      watcher.close();
      clearTimeout(timer);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await running;
}
