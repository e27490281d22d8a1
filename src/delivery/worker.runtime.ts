import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import type { Database } from '../db/db.types.ts';
import type { IssueTemplate } from '../render/render.types.ts';
import { MessageBuilder } from '../render/message.builder.ts';
import { TokenSigner } from '../subscriptions/tokens.ts';
import { createTransport } from '../transports/transport.factory.ts';
import type { Transport } from '../transports/transport.types.ts';
import { type BuildMessage, DeliveryWorker } from './deliveries.worker.ts';
import { DeliveryScheduler, type SchedulerLog } from './delivery.scheduler.ts';

export interface SendingRuntime {
  worker: DeliveryWorker;
  scheduler: DeliveryScheduler | undefined;
  transport: Transport;
  /** Stops the scheduler, lets the worker finish what it holds, closes the transport. */
  stop(): Promise<void>;
}

/** Issues rendered by MessageBuilder: the production way to turn a claimed delivery into a message. */
export function messageBuilderFor(config: Config): BuildMessage {
  const builder = new MessageBuilder(config, new TokenSigner(config.SECRET_KEY));
  return (issue, delivery) =>
    builder.build(
      { id: issue.id, template: issue.template as IssueTemplate, list: issue.list },
      {
        email: delivery.email,
        name: delivery.name,
        subscriberId: delivery.subscriberId,
        deliveryId: delivery.id,
        trackClicks: delivery.trackClicks,
      },
    );
}

/**
 * A worker (and, unless told otherwise, the scheduler) on the given database: what `digestmail
 * worker`, `digestmail serve` and `issue send --wait` run. Every `sending` issue is picked up at
 * once, so restarting any of them resumes what was under way.
 */
export async function startSending(
  db: Kysely<Database>,
  config: Config,
  options: { scheduler?: boolean; log?: SchedulerLog } = {},
): Promise<SendingRuntime> {
  const transport = createTransport(config);
  // A provider that states its limit (SES) caps SEND_RATE.
  const providerRate = await transport.maxRate?.().catch(() => undefined);
  const rate = providerRate ? Math.min(config.SEND_RATE, providerRate) : config.SEND_RATE;
  const worker = new DeliveryWorker({
    db,
    config: { ...config, SEND_RATE: rate },
    transport,
    build: messageBuilderFor(config),
    ...(options.log ? { log: options.log } : {}),
  });
  const scheduler = options.scheduler === false ? undefined : new DeliveryScheduler(db, config, options.log);
  scheduler?.start();
  worker.start().catch((error: Error) => options.log?.('worker_failed', { error: error.message }));
  return {
    worker,
    scheduler,
    transport,
    stop: async () => {
      await scheduler?.stop();
      await worker.stop();
      await transport.close();
    },
  };
}
