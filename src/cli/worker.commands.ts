import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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

/**
 * Keeps a sending worker's memory near what it really holds. A sending worker makes a few kilobytes
 * of short-lived pieces per message (headers, links, encoded slots), thousands of times a second.
 * V8 answers that allocation rate by growing the young generation, and the pieces still in flight at
 * a scavenge are promoted, so the old space fills with garbage that V8 collects only once it is
 * several times the live size. So: the young generation grows no further, and a full collection
 * runs every `ms` (~10 ms for a heap this size). The young generation has already grown to 8–16 MB
 * while the CLI's modules load, before this runs (the flag does not shrink it; set at process start
 * it keeps it at 2 MB: 96 MiB peak in a 60,000-message bench:send). bench:send, 1 M-reader issue,
 * 2026-12-01: peak RSS 115 MiB with a collection every second at 2,819 msg/s (the faster the
 * sending, the more garbage between two collections), 107 MiB every half second at 3,307 msg/s;
 * 157 MiB without any of this (60,000 messages). It costs some CPU (0.28 against 0.22 ms per message
 * in one pair of runs on a busy machine), which the dispatch aim can afford and the memory aim cannot.
 */
function keepHeapSmall(ms: number): () => void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  if (typeof gc !== 'function') return () => {};
  const timer = setInterval(() => gc(), ms);
  timer.unref();
  return () => clearInterval(timer);
}

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description('send queued deliveries and start scheduled issues until stopped (SIGINT/SIGTERM)')
    .action(async () => {
      const stopCollecting = keepHeapSmall(500);
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
        stopCollecting();
        logger.info({ workerId: runtime.worker.id, ...runtime.worker.stats }, 'worker_stopped');
      });
    });
}
