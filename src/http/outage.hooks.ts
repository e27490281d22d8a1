import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { databaseHealth } from '../db/db.health.ts';
import { type AppDeps, pageContext, sendPage } from './http.context.ts';
import { messages } from './i18n.ts';
import { messagePage } from './pages.ts';

/** How long a client is told to wait: about the longest the database gate waits between probes. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * While the database is unreachable every request that needs it (all but /healthz, which says so
 * itself) is answered at once with 503 and Retry-After, instead of hanging on a connection or
 * failing as a 500: a person gets a page saying to try again, SNS gets JSON and a 5xx, which makes
 * it deliver the notification again later.
 */
export function registerOutageHandling(app: FastifyInstance, deps: AppDeps): void {
  const gate = databaseHealth(deps.db);
  // Synchronous: it runs on every request, and almost always only reads a flag.
  app.addHook('onRequest', (request, reply, done) => {
    if (gate.up || request.url.startsWith('/healthz')) return done();
    unavailable(request, reply, deps);
  });
}

/** For the error handler: answers 503 when the error is the database going away, else false. */
export function answeredAsOutage(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  deps: AppDeps,
): FastifyReply | false {
  if (!databaseHealth(deps.db).report(error)) return false;
  return unavailable(request, reply, deps);
}

function unavailable(request: FastifyRequest, reply: FastifyReply, deps: AppDeps): FastifyReply {
  reply.header('retry-after', String(RETRY_AFTER_SECONDS)).header('cache-control', 'no-store');
  const path = request.url.split('?')[0] ?? '';
  if (path.startsWith('/webhooks/') || path.startsWith('/healthz')) {
    return reply
      .code(503)
      .send({ error: 'unavailable', message: 'the database cannot be reached; retry later' });
  }
  if (path.startsWith('/metrics')) {
    return reply.code(503).type('text/plain; charset=utf-8').send('the database cannot be reached\n');
  }
  const ctx = pageContext(request, deps.config);
  const t = messages(ctx.lang);
  return sendPage(reply, 503, messagePage(ctx, t.errorTitle, [t.serverError]));
}
