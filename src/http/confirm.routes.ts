import type { FastifyInstance } from 'fastify';
import { signPreferences } from '../core/reader-tokens.ts';
import { SignupService } from '../subscriptions/signup.service.ts';
import { html } from './html.ts';
import { type AppDeps, langOf, pageContext, sendPage, signerOf } from './http.context.ts';
import { messages } from './i18n.ts';
import { buttonForm, joinNames, messagePage } from './pages.ts';

interface TokenParams {
  token: string;
}

/**
 * The link in the confirmation mail. Mail scanners open links, so the GET only shows a button; the
 * POST it makes confirms (and confirming twice is harmless).
 */
export async function confirmRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const signer = signerOf(deps);
  const service = new SignupService(deps.db, signer, deps.config);

  app.get<{ Params: TokenParams }>('/confirm/:token', async (request, reply) => {
    const ctx = pageContext(request, deps.config);
    const t = messages(ctx.lang);
    const lists = await service.confirmationLists(request.params.token);
    const names = joinNames(
      t,
      lists.map((l) => l.name),
    );
    return sendPage(
      reply,
      200,
      messagePage(
        ctx,
        t.confirmTitle,
        [t.confirmBody(names)],
        buttonForm(ctx.path, reply.generateCsrf(), t.confirmButton, { lang: ctx.lang }),
      ),
    );
  });

  app.post<{ Params: TokenParams }>(
    '/confirm/:token',
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const lang = langOf(request);
      const ctx = pageContext(request, deps.config, lang);
      const t = messages(lang);
      const outcome = await service.confirm(request.params.token, lang);
      request.log.info({ confirmed: outcome.confirmed.length, found: outcome.found }, 'confirm');
      if (outcome.confirmed.length > 0) deps.onMailQueued?.();
      if (!outcome.found) return sendPage(reply, 409, messagePage(ctx, t.confirmTitle, [t.notConfirmedBody]));
      const lists = await service.confirmationLists(request.params.token);
      const preferences = `/preferences/${signPreferences(signer, outcome.subscriberId)}?lang=${lang}`;
      return sendPage(
        reply,
        200,
        messagePage(
          ctx,
          t.confirmedTitle,
          [
            t.confirmedBody(
              joinNames(
                t,
                lists.map((l) => l.name),
              ),
            ),
          ],
          html`<p><a href="${preferences}">${t.changePreferences}</a></p>`,
        ),
      );
    },
  );
}
