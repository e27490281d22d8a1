import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { AppDeps } from './http.context.ts';

/** Liveness and readiness in one: the process answers and its database does too. */
export async function healthRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get('/healthz', { logLevel: 'warn' }, async (_request, reply) => {
    try {
      await sql`select 1`.execute(deps.db);
      return reply.header('cache-control', 'no-store').send({ status: 'ok' });
    } catch {
      return reply
        .code(503)
        .header('cache-control', 'no-store')
        .send({ status: 'unavailable', database: 'down' });
    }
  });
}
