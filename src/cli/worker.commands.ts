import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import pino, { type Logger } from 'pino';
import type { Config } from '../config/config.loader.ts';
import { maskingLogHooks } from '../core/secrets.text.ts';
import type { Database } from '../db/db.types.ts';
import { startSending } from '../issues/issues.runtime.ts';
import { withContext } from './cli.context.ts';

/** JSON log lines on stderr, so stdout stays for a command's answer. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>): Logger {
  return pino(
    { level: config.LOG_LEVEL, base: { pid: process.pid }, hooks: maskingLogHooks },
    pino.destination(2),
  );
}

/**
 * GET /healthz for a worker, which has no web pages: the same route serve has (200 while the
 * database answers, 503 while it cannot be reached), for a container or load-balancer health check.
 */
async function startHealthServer(config: Config, db: Kysely<Database>): Promise<FastifyInstance | undefined> {
  if (config.WORKER_HEALTH_PORT === undefined) return undefined;
  // Loaded only when asked for: Fastify is a fifth of a sending worker's memory otherwise.
  const [{ default: Fastify }, { healthRoutes }] = await Promise.all([
    import('fastify'),
    import('../http/health.routes.ts'),
  ]);
  const app = Fastify({ logger: false });
  await app.register(healthRoutes, { config, db });
  const address = await app.listen({ port: config.WORKER_HEALTH_PORT, host: config.HOST });
  process.stdout.write(`digestmail: worker health check on ${address}/healthz\n`);
  return app;
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description('send queued deliveries and start scheduled issues until stopped (SIGINT/SIGTERM)')
    .action(async () => {
      await withContext(async ({ db, config, engine, health }) => {
        const logger = createLogger(config);
        // One line when the database becomes unreachable and one when it is back.
        health.onEvent = ({ event, ...fields }) =>
          event === 'outage_started'
            ? logger.error(fields, 'database_unreachable')
            : logger.info(fields, 'database_reachable');
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
        const healthServer = await startHealthServer(config, db);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        logger.info({ workerId: runtime.worker.id }, 'worker_stopping');
        await healthServer?.close();
        await mailboxWatcher?.stop();
        await runtime.stop();
        logger.info({ workerId: runtime.worker.id, ...runtime.worker.stats }, 'worker_stopped');
      });
    });
}
