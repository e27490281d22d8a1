import type { Command } from 'commander';
import { maskingLogHooks } from '../core/secrets.text.ts';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { type SendingRuntime, startSending } from '../issues/issues.runtime.ts';
import { buildApp } from '../http/app.ts';
import { metricsRoutes } from '../http/metrics.routes.ts';
import { verifyTemplates } from '../render/templates.verify.ts';
import { OutboxSender } from '../delivery/outbox.sender.ts';
import { SignupService } from '../subscriptions/signup.service.ts';
import type { HandedOverMail } from '../subscriptions/system-mail.service.ts';
import { TokenSigner } from '../core/tokens.ts';
import { createTransport } from '../transports/transport.factory.ts';
import type { ImapWatcher } from '../bounces/imap.watcher.ts';
import { type CliContext, withContext } from './cli.context.ts';

/**
 * Something `digestmail serve` runs for the life of the process. Services start in list order and
 * stop in reverse, so the web server (last in) stops taking requests first and finishes those in
 * flight before the senders behind it stop and the database pool closes.
 */
export interface ServeService {
  name: string;
  start(): Promise<void> | void;
  stop(): Promise<void>;
}

const PRUNE_EVERY_MS = 5 * 60 * 1000;
const FOLD_COUNTS_EVERY_MS = 1000;
const CLICK_FOLD_EVERY_MS = 60 * 60 * 1000;

/** The services of `digestmail serve`, in start order. Add a sending service with a line here. */
export function serveServices({ config, db, health }: CliContext): ServeService[] {
  const logger = pino({ level: config.LOG_LEVEL, hooks: maskingLogHooks });
  // One line when the database becomes unreachable and one when it is back, for the whole process.
  health.onEvent = ({ event, ...fields }) =>
    event === 'outage_started'
      ? logger.error(fields, 'database_unreachable')
      : logger.info(fields, 'database_reachable');
  const signer = new TokenSigner(config.SECRET_KEY);
  const transport = createTransport(config);
  const outbox = new OutboxSender({
    db,
    config,
    transport,
    signer,
    log: logger.child({ service: 'outbox' }),
  });
  let pruner: NodeJS.Timeout | undefined;
  let clickFolder: NodeJS.Timeout | undefined;
  let countFolder: NodeJS.Timeout | undefined;
  let sending: SendingRuntime | undefined;
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let metricsApp: FastifyInstance | undefined;
  let consoleApp: Awaited<ReturnType<typeof buildApp>> | undefined;
  let mailboxWatcher: ImapWatcher | undefined;
  return [
    {
      name: 'outbox sender',
      start: () => outbox.start(),
      stop: async () => {
        await outbox.stop();
        await transport.close();
      },
    },
    {
      name: 'rate-limit pruner',
      start: () => {
        const signup = new SignupService(db, signer, config);
        pruner = setInterval(() => {
          signup.pruneRateLimits().catch((error: Error) => {
            if (!health.report(error)) logger.warn({ err: error.message }, 'rate-limit prune failed');
          });
        }, PRUNE_EVERY_MS);
        pruner.unref();
      },
      stop: async () => clearInterval(pruner),
    },
    {
      // Delivery, event and click totals are kept as delta rows (one per change); folding them every
      // second here means a /metrics scrape only sums what the last second left, however large the
      // burst before it, and never waits on the fold itself.
      name: 'counter folding',
      start: async () => {
        const [{ DeliveryStatsService }, { ClicksService }] = await Promise.all([
          import('../bounces/delivery-stats.service.ts'),
          import('../clicks/clicks.service.ts'),
        ]);
        const deliveries = new DeliveryStatsService(db);
        const clicks = new ClicksService(db);
        let folding = false;
        countFolder = setInterval(() => {
          if (folding) return;
          folding = true;
          Promise.all([deliveries.compactCounts(), clicks.compactCounts()])
            .catch((error: Error) => {
              if (!health.report(error)) logger.warn({ err: error.message }, 'counter folding failed');
            })
            .finally(() => {
              folding = false;
            });
        }, FOLD_COUNTS_EVERY_MS);
        countFolder.unref();
      },
      stop: async () => clearInterval(countFolder),
    },
    {
      // Click counts keep per-delivery rows only for CLICK_RETENTION_DAYS, then per-link totals.
      name: 'click retention',
      start: () => {
        const fold = async () => {
          const { ClicksService } = await import('../clicks/clicks.service.ts');
          const folded = await new ClicksService(db).fold(config.CLICK_RETENTION_DAYS);
          if (folded > 0) logger.info({ folded }, 'click rows folded into totals');
        };
        clickFolder = setInterval(() => {
          fold().catch((error: Error) => logger.warn({ err: error.message }, 'click retention failed'));
        }, CLICK_FOLD_EVERY_MS);
        clickFolder.unref();
      },
      stop: async () => clearInterval(clickFolder),
    },
    {
      // The scheduler and a delivery worker: a restarted serve resumes every issue still sending.
      name: 'issue sender',
      start: async () => {
        const log = logger.child({ service: 'delivery' });
        sending = await startSending(db, config, { log: (event, fields) => log.info(fields ?? {}, event) });
      },
      stop: async () => {
        await sending?.stop();
      },
    },
    ...(config.BOUNCE_IMAP_URL
      ? [
          {
            // BOUNCE_IMAP_URL: bounces read from a mailbox, IDLE or a look every minute.
            name: 'bounce mailbox watcher',
            start: async () => {
              const { bounceMailboxWatcher } = await import('./bounces.commands.ts');
              const log = logger.child({ service: 'bounce mailbox' });
              mailboxWatcher = await bounceMailboxWatcher(config, db, (level, event, fields) =>
                log[level](fields, event),
              );
              await mailboxWatcher?.start();
            },
            stop: async () => {
              await mailboxWatcher?.stop();
            },
          },
        ]
      : []),
    {
      name: 'web server',
      start: async () => {
        // A broken template stops serve here, not at the first signup or send.
        await verifyTemplates(config);
        const deps = {
          config,
          db,
          signer,
          onMailQueued: () => outbox.wake(),
          // A signup's confirmation mail goes from the request to this process's sender, unclaimed.
          confirmationHandOff: {
            take: (mail: HandedOverMail) => outbox.take(mail),
            leaseSeconds: config.LEASE_SECONDS,
          },
        };
        // CONSOLE_PORT: the console gets a listener of its own (keep it off the internet) and the
        // public one has no /console routes at all.
        const ownConsole = config.CONSOLE && config.CONSOLE_PORT !== undefined;
        app = await buildApp(deps, { console: config.CONSOLE && !ownConsole });
        const address = await app.listen({ port: config.PORT, host: config.HOST });
        // One plain line a supervisor or a test can read (PORT=0 picks a free port).
        process.stdout.write(`digestmail: listening on ${address}\n`);
        if (ownConsole) {
          consoleApp = await buildApp(deps, { public: false, console: true });
          const at = await consoleApp.listen({
            port: config.CONSOLE_PORT!,
            host: config.CONSOLE_HOST ?? config.HOST,
          });
          process.stdout.write(`digestmail: console listening on ${at}\n`);
        }
      },
      stop: async () => {
        await Promise.all([app?.close(), consoleApp?.close()]);
      },
    },
    {
      // /metrics on a listener of its own (a private interface or port), when METRICS_PORT is set.
      name: 'metrics server',
      start: async () => {
        if (config.METRICS_PORT === undefined) return;
        metricsApp = Fastify({ logger: false, requestTimeout: 30_000, connectionTimeout: 10_000 });
        await metricsApp.register(metricsRoutes, { db, token: config.METRICS_TOKEN });
        const address = await metricsApp.listen({ port: config.METRICS_PORT, host: config.METRICS_HOST });
        process.stdout.write(`digestmail: metrics on ${address}/metrics\n`);
      },
      stop: async () => {
        await metricsApp?.close();
      },
    },
  ];
}

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('run the web pages (signup, confirm, unsubscribe, preferences) and the mail senders')
    .action(async () => {
      await withContext(async (ctx) => {
        const services = serveServices(ctx);
        const started: ServeService[] = [];
        const stopAll = async () => {
          for (const service of started.reverse()) {
            await service.stop().catch((error: Error) => {
              process.stderr.write(`digestmail: stopping the ${service.name} failed: ${error.message}\n`);
            });
          }
        };
        const signalled = new Promise<string>((resolve) => {
          process.once('SIGTERM', () => resolve('SIGTERM'));
          process.once('SIGINT', () => resolve('SIGINT'));
        });
        try {
          for (const service of services) {
            await service.start();
            started.push(service);
          }
        } catch (error) {
          await stopAll();
          throw error;
        }
        const signal = await signalled;
        process.stdout.write(`digestmail: ${signal} received, finishing in-flight work\n`);
        await stopAll();
        process.stdout.write('digestmail: stopped\n');
      });
    });
}
