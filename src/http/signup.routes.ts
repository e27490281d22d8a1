import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../core/errors.ts';
import { SignupService } from '../subscriptions/signup.service.ts';
import { type AppDeps, field, fields, ids, langOf, pageContext, sendPage, signerOf } from './http.context.ts';
import { messages } from './i18n.ts';
import { checkInboxPage, messagePage, signupPage } from './pages.ts';

/** Form errors shown on the form itself, with what the reader typed kept. */
const FORM_ERRORS = new Set([
  'subscriptions.email_invalid',
  'subscriptions.no_list_chosen',
  'subscriptions.list_unknown',
]);

/**
 * The signup form. Whatever state the address is in, an accepted POST gets the same "check your
 * inbox" page; the mail goes through the outbox, never from inside the request.
 */
export async function signupRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const service = new SignupService(deps.db, signerOf(deps), deps.config, deps.confirmationHandOff);

  const showForm = async (request: FastifyRequest, reply: FastifyReply) => {
    let lists = await service.publicLists();
    // `?list=<slug>` (the button on a list's archive page) offers that list alone.
    const wanted = (request.query as Record<string, unknown> | undefined)?.list;
    const only = lists.filter((l) => l.slug === wanted);
    if (only.length > 0) lists = only;
    const ctx = pageContext(request, deps.config);
    return sendPage(reply, 200, signupPage(ctx, { lists, csrf: reply.generateCsrf() }));
  };
  app.get('/', showForm);
  app.get('/subscribe', showForm);

  app.post('/subscribe', { preHandler: app.csrfProtection }, async (request, reply) => {
    const body = request.body;
    const lang = langOf(request);
    const ctx = pageContext(request, deps.config, lang);
    const t = messages(lang);
    const email = field(body, 'email') ?? '';
    const name = field(body, 'name');
    const listIds = ids(fields(body, 'lists'));
    try {
      if (!listIds) throw new AppError('subscriptions.list_unknown', 'the lists field must hold list ids');
      const outcome = await service.signup({
        email,
        name,
        listIds,
        ip: request.ip ?? null,
        lang,
        trap: field(body, 'website'),
      });
      request.log.info(
        outcome
          ? {
              signup: outcome.accepted ? 'accepted' : 'refused',
              confirmQueued: outcome.confirmQueued.length,
              confirmThrottled: outcome.confirmThrottled,
              joined: outcome.joined.length,
            }
          : { signup: 'honeypot' },
        'signup',
      );
      const queued =
        outcome && (outcome.joined.length > 0 || (outcome.confirmQueued.length > 0 && !outcome.handedOver));
      if (queued) deps.onMailQueued?.();
      return sendPage(reply, 200, checkInboxPage(ctx));
    } catch (error) {
      if (!isAppError(error)) throw error;
      if (error.code === 'subscriptions.rate_limited') {
        request.log.info({ signup: 'rate_limited' }, 'signup');
        reply.header('retry-after', '600');
        return sendPage(reply, 429, messagePage(ctx, t.rateLimitedTitle, [t.rateLimitedBody]));
      }
      if (!FORM_ERRORS.has(error.code)) throw error;
      const message =
        error.code === 'subscriptions.email_invalid'
          ? t.emailInvalid(error.message)
          : error.code === 'subscriptions.no_list_chosen'
            ? t.noListChosen
            : t.listUnknown;
      const lists = await service.publicLists();
      return sendPage(
        reply,
        400,
        signupPage(ctx, {
          lists,
          csrf: reply.generateCsrf(),
          email: email.slice(0, 254),
          ...(name === undefined ? {} : { name: name.slice(0, 200) }),
          chosen: listIds ?? [],
          error: message,
        }),
      );
    }
  });
}
