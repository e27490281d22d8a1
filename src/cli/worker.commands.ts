import type { Command } from 'commander';
import pino, { type Logger } from 'pino';
import type { Config } from '../config/config.loader.ts';
import { maskingLogHooks } from '../core/secrets.text.ts';
import { startSending } from '../issues/issues.runtime.ts';
import { withContext } from './cli.context.ts';

/** JSON log lines on stderr, so stdout stays for a command's answer. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>): Logger {
  return pino(
    { level: config.LOG_LEVEL, base: { pid: process.pid }, hooks: maskingLogHooks },
    pino.destination(2),
  );
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description('send queued deliveries and start scheduled issues until stopped (SIGINT/SIGTERM)')
    .action(async () => {
      await withContext(async ({ db, config, engine }) => {
        const logger = createLogger(config);
        const runtime = await startSending(db, config, {
          log: (event, fields) => logger.info(fields ?? {}, event),
        });
        // BOUNCE_IMAP_URL: any number of workers may watch one mailbox; each message is claimed once.
        const mailboxWatcher = config.BOUNCE_IMAP_URL
          ? await (await import('./bounces.commands.ts')).bounceMailboxWatcher(
              config,
              db,
              (level, event, fields) => logger[level](fields, event),
            )
          : undefined;
        await mailboxWatcher?.start();
        logger.info(
          {
            workerId: runtime.worker.id,
            engine,
            transport: runtime.transport.name,
            rate: config.SEND_RATE,
            concurrency: config.SEND_CONCURRENCY,
            inFlightWindow: runtime.worker.inFlightWindow,
          },
          'worker_started',
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        logger.info({ workerId: runtime.worker.id }, 'worker_stopping');
        await mailboxWatcher?.stop();
        await runtime.stop();
        logger.info({ workerId: runtime.worker.id, ...runtime.worker.stats }, 'worker_stopped');
      });
    });
}
