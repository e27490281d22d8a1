import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ClicksService } from '../clicks/clicks.service.ts';
import { isAppError } from '../core/errors.ts';
import { type AppDeps, pageContext, sendPage, signerOf } from './http.context.ts';
import { messages } from './i18n.ts';
import { messagePage } from './pages.ts';

interface ClickParams {
  token: string;
  position: string;
}

/**
 * `GET /c/<token>/<position>`: the redirect of a counted link. The token is signed and names the
 * issue and the delivery; the position must be one of that issue's stored links, and the reader is
 * sent to the URL stored for it — never to anything taken from the request. A tampered or unknown
 * link gets a page and no redirect. The click is counted at most once per (delivery, link); if the
 * database cannot count it, the reader still gets where they were going.
 */
export async function clickRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const clicks = new ClicksService(deps.db);
  const signer = signerOf(deps);

  const invalidPage = (request: FastifyRequest, reply: FastifyReply, status: number) => {
    const ctx = pageContext(request, deps.config);
    const t = messages(ctx.lang);
    return sendPage(reply, status, messagePage(ctx, t.linkInvalidTitle, [t.linkInvalidBody]));
  };

  app.route<{ Params: ClickParams }>({
    method: ['GET', 'HEAD'],
    url: '/c/:token/:position',
    logLevel: 'warn',
    handler: async (request, reply) => {
      let claims: { i: number; d: number };
      try {
        claims = signer.verify<{ i: number; d: number }>('click', request.params.token);
      } catch (error) {
        if (isAppError(error)) return invalidPage(request, reply, 400);
        throw error;
      }
      const position = /^[1-9][0-9]{0,4}$/.test(request.params.position)
        ? Number(request.params.position)
        : 0;
      const url = position > 0 ? await clicks.target(claims.i, position) : undefined;
      if (!url) return invalidPage(request, reply, 404);
      try {
        await clicks.record({
          issueId: claims.i,
          deliveryId: claims.d,
          position,
          method: request.method,
          userAgent: request.headers['user-agent'],
        });
      } catch (error) {
        request.log.warn({ err: (error as Error).message, issueId: claims.i }, 'click not counted');
      }
      return reply.code(302).header('location', url).header('cache-control', 'no-store').send();
    },
  });
}
