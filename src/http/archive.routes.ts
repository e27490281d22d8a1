import type { FastifyInstance } from 'fastify';
import { IssuesService } from '../issues/issues.service.ts';
import { webVersionHtml } from '../render/web-version.ts';
import { type AppDeps, pageContext, parseId, sendPage } from './http.context.ts';
import { messages } from './i18n.ts';
import { messagePage } from './pages.ts';

interface IdParams {
  id: string;
}

/**
 * The web version of a sent issue ("view in browser" in every mail). The copy is the same for every
 * reader: the personal links (unsubscribe, preferences) exist only in each reader's own mail, so on
 * the web they lead to the signup page. Only issues of public lists that have gone out are shown.
 * The mail's HTML has inline styles and remote images, so this page has a CSP of its own, still
 * without any script.
 */
export async function archiveRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const issues = new IssuesService(deps.db, deps.config);

  app.get<{ Params: IdParams }>('/archive/:id', async (request, reply) => {
    const notFound = () => {
      const ctx = pageContext(request, deps.config);
      const t = messages(ctx.lang);
      return sendPage(reply, 404, messagePage(ctx, t.notFoundTitle, [t.notFoundBody]));
    };
    const id = parseId(request.params.id);
    if (id === undefined) return notFound();
    const template = await issues.archived(id);
    if (!template) return notFound();
    const html = webVersionHtml(template, deps.config.PUBLIC_URL, id);
    return reply
      .header(
        'content-security-policy',
        "default-src 'none'; style-src 'unsafe-inline' https:; img-src https: http: data:; font-src https: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      )
      .header('cache-control', 'public, max-age=300')
      .type('text/html; charset=utf-8')
      .send(html);
  });
}
