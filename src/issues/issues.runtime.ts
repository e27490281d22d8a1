import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import type { Database } from '../db/db.types.ts';
import type { DeliveryWorker } from '../delivery/deliveries.worker.ts';
import { createWorker } from '../delivery/worker.runtime.ts';
import type { Transport } from '../transports/transport.types.ts';
import { IssueLifecycle } from './issues.lifecycle.ts';
import { DeliveryScheduler, type SchedulerLog } from './issues.scheduler.ts';

export interface SendingRuntime {
  worker: DeliveryWorker;
  scheduler: DeliveryScheduler | undefined;
  transport: Transport;
  /** Stops the scheduler, lets the worker finish what it holds, closes the transport. */
  stop(): Promise<void>;
}

/**
 * A worker (and, unless told otherwise, the scheduler) on the given database: what `digestmail
 * worker`, `digestmail serve` and `issue send --wait` run. Every `sending` issue is picked up at
 * once, so restarting any of them resumes what was under way. This is where the worker is wired to
 * the issues module: it reports "drained" and "fatal" to IssueLifecycle, the one writer of status.
 */
export async function startSending(
  db: Kysely<Database>,
  config: Config,
  options: { scheduler?: boolean; log?: SchedulerLog } = {},
): Promise<SendingRuntime> {
  const { worker, transport } = await createWorker(db, config, new IssueLifecycle(db), options.log);
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
