import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import Fastify from 'fastify';

/** What any Fastify reply carries by itself: not helmet's. */
const OWN_HEADERS = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive']);

/**
 * helmet's security headers for these options, computed once. `@fastify/helmet` builds a new helmet
 * middleware — parsing and validating the CSP directives again — inside every request's hooks: about
 * a tenth of the CPU of a one-click unsubscribe or a click redirect. The headers depend only on the
 * options, so a throwaway app with the same plugin answers one request at start, and its headers are
 * what every response of the real app gets (from one synchronous hook), byte for byte the same.
 */
export async function securityHeaders(options: FastifyHelmetOptions): Promise<Record<string, string>> {
  const probe = Fastify({ logger: false });
  await probe.register(helmet, options);
  probe.get('/', async () => '');
  const res = await probe.inject({ method: 'GET', url: '/' });
  await probe.close();
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || OWN_HEADERS.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return headers;
}
