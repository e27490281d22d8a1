import type { FastifyInstance } from 'fastify';
import { databaseAnswers, databaseHealth } from '../db/db.health.ts';
import type { AppDeps } from './http.context.ts';
import { RETRY_AFTER_SECONDS } from './outage.hooks.ts';

/**
 * Liveness and readiness in one: the process answers and its database does too. During a known
 * outage it answers 503 at once, without asking the database again (the gate probes it already).
 */
export async function healthRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const gate = databaseHealth(deps.db);
  app.get('/healthz', { logLevel: 'warn' }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    try {
      if (gate.up) {
        await databaseAnswers(deps.db);
        return reply.send({ status: 'ok' });
      }
    } catch (error) {
      gate.report(error);
    }
    const since = gate.since === undefined ? undefined : new Date(gate.since).toISOString();
    return reply
      .code(503)
      .header('retry-after', String(RETRY_AFTER_SECONDS))
      .send({ status: 'unavailable', database: 'down', ...(since ? { since } : {}) });
  });
}
