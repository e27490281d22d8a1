import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import { TokenSigner } from '../core/tokens.ts';
import type { Database } from '../db/db.types.ts';
import type { IssueTemplate } from '../render/render.types.ts';
import { MessageBuilder } from '../render/message.builder.ts';
import { createTransport } from '../transports/transport.factory.ts';
import type { Transport } from '../transports/transport.types.ts';
import {
  type BuildMessage,
  DeliveryWorker,
  type IssueSource,
  type WorkerOptions,
} from './deliveries.worker.ts';

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
 * A worker on the configured transport, not started. A provider that states its limit (SES) caps
 * SEND_RATE. `issues` is the issues module's IssueLifecycle (see issues.runtime.ts).
 */
export async function createWorker(
  db: Kysely<Database>,
  config: Config,
  issues: IssueSource,
  log?: WorkerOptions['log'],
): Promise<{ worker: DeliveryWorker; transport: Transport }> {
  const transport = createTransport(config);
  const providerRate = await transport.maxRate?.().catch(() => undefined);
  const rate = providerRate ? Math.min(config.SEND_RATE, providerRate) : config.SEND_RATE;
  const worker = new DeliveryWorker({
    db,
    config: { ...config, SEND_RATE: rate },
    transport,
    build: messageBuilderFor(config),
    issues,
    ...(log ? { log } : {}),
  });
  return { worker, transport };
}
