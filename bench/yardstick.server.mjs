/**
 * The yardstick of `npm run bench:http`: a bare Fastify route doing one indexed UPDATE on the same
 * database as `digestmail serve`, with the same pool size and the same driver (pg, an unnamed
 * statement per query, as Kysely sends them). No logger, no hooks, no plugins, no body: what any
 * route that writes one row cannot go below on this machine, measured in the same run as the real
 * routes, so a busy or slower machine moves both and their ratio stays meaningful.
 *
 * Plain JavaScript run by node itself (no TypeScript loader in the measured process).
 * Env: DATABASE_URL, PORT, DATABASE_POOL_SIZE (16).
 */
import Fastify from 'fastify';
import pg from 'pg';

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DATABASE_POOL_SIZE ?? 16),
});
const app = Fastify({ logger: false });

app.post('/yardstick/:id', async (request, reply) => {
  const result = await pool.query(
    'update bench_yardstick set hits = hits + 1, updated_at = now() where id = $1',
    [Number(request.params.id)],
  );
  return reply.code(200).send(result.rowCount === 1 ? 'ok' : 'missing');
});

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
console.log(`yardstick: listening on http://127.0.0.1:${app.server.address().port}`);
const stop = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
