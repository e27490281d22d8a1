import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import { BouncesService } from '../bounces/bounces.service.ts';
import { SnsVerifier } from '../bounces/sns.verifier.ts';
import type { Config } from '../config/config.loader.ts';
import { isAppError } from '../core/errors.ts';
import type { Database } from '../db/db.types.ts';

export interface WebhookRoutesOptions {
  db: Kysely<Database>;
  config: Pick<Config, 'SNS_TOPIC_ARNS' | 'SNS_CERT_HOST_PATTERN' | 'SOFT_BOUNCE_LIMIT' | 'SOFT_BOUNCE_DAYS'>;
  /** Extra CA to trust when fetching SNS certificates (tests); production uses the system store. */
  snsCa?: string | Buffer;
}

/** SNS messages are at most 256 KB; with the JSON envelope around them anything past this is not SNS. */
const BODY_LIMIT = 512 * 1024;
const PRUNE_EVERY_MS = 10 * 60 * 1000;

/**
 * POST /webhooks/ses: Amazon SNS delivering SES bounce, complaint and delivery events (JSON sent as
 * text/plain). Every message is verified before it is acted on; any failed check is a 4xx naming it,
 * and changes nothing. A replay of a message already handled answers 200 and changes nothing.
 */
export async function webhookRoutes(app: FastifyInstance, options: WebhookRoutesOptions): Promise<void> {
  const verifier = new SnsVerifier({
    topicArns: options.config.SNS_TOPIC_ARNS,
    certHostPattern: options.config.SNS_CERT_HOST_PATTERN,
    ...(options.snsCa === undefined ? {} : { ca: options.snsCa }),
  });
  const service = new BouncesService(options.db, {
    softBounceLimit: options.config.SOFT_BOUNCE_LIMIT,
    softBounceDays: options.config.SOFT_BOUNCE_DAYS,
  });

  if (options.config.SNS_TOPIC_ARNS.length === 0) {
    app.log.warn('SNS_TOPIC_ARNS is empty: POST /webhooks/ses will refuse every SNS message');
  }
  // Remembered SNS message ids are needed only while a replay would still pass the timestamp check.
  const pruner = setInterval(() => {
    service
      .forgetOldSnsMessages()
      .catch((error: Error) => app.log.warn({ err: error.message }, 'sns prune failed'));
  }, PRUNE_EVERY_MS);
  pruner.unref();
  app.addHook('onClose', async () => clearInterval(pruner));

  app.post('/webhooks/ses', { bodyLimit: BODY_LIMIT }, async (request, reply) => {
    try {
      const outcome = await service.handleSns(request.body, verifier);
      if (outcome.result === 'processed') {
        for (const e of outcome.events) {
          request.log.info(
            {
              snsMessageId: outcome.messageId,
              type: e.event.type,
              deliveryId: e.deliveryId,
              issueId: e.issueId,
              recorded: e.recorded,
              suppressed: e.suppressed,
            },
            'ses event',
          );
        }
        return reply.send({ result: outcome.result, kind: outcome.kind, events: outcome.events.length });
      }
      request.log.info({ snsMessageId: outcome.messageId, result: outcome.result }, 'sns message');
      return reply.send({ result: outcome.result });
    } catch (error) {
      return sendError(reply, error);
    }
  });
}

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  if (!isAppError(error)) throw error;
  reply.log.warn({ code: error.code }, error.message);
  return reply.code(error.status).send({ error: error.code, message: error.message });
}
