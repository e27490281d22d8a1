import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.ts';
import { UnsubscribeService } from '../subscriptions/unsubscribe.service.ts';
import { html } from './html.ts';
import { type AppDeps, field, ids, langOf, pageContext, sendPage, signerOf } from './http.context.ts';
import { messages } from './i18n.ts';
import { buttonForm, joinNames, messagePage, page } from './pages.ts';

interface TokenParams {
  token: string;
}

const FORM_TYPES = /^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i;

/**
 * The one-click POST a mail client makes (RFC 8058) carries `List-Unsubscribe=One-Click` and
 * nothing else: no cookie, no CSRF token. It is told apart from the page's own form, which names an
 * `action` and is CSRF-protected like every other human form.
 */
function isOneClickAttempt(request: FastifyRequest): boolean {
  return field(request.body, 'action') === undefined;
}

function requireOneClickBody(request: FastifyRequest): void {
  const type = request.headers['content-type'] ?? '';
  if (!FORM_TYPES.test(type) || field(request.body, 'List-Unsubscribe') !== 'One-Click') {
    throw new AppError(
      'subscriptions.one_click_body',
      'a one-click unsubscribe must POST the form body List-Unsubscribe=One-Click',
      { status: 400 },
    );
  }
}

export async function unsubscribeRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const service = new UnsubscribeService(deps.db, signerOf(deps));

  app.get<{ Params: TokenParams }>('/unsubscribe/:token', async (request, reply) => {
    const ctx = pageContext(request, deps.config);
    const t = messages(ctx.lang);
    const view = await service.view(request.params.token);
    if (view.kind === 'test') return sendPage(reply, 200, messagePage(ctx, t.testTitle, [t.testBody]));
    if (view.kind === 'gone')
      return sendPage(reply, 200, messagePage(ctx, t.readerGoneTitle, [t.readerGoneBody]));
    const csrf = reply.generateCsrf();
    const preferences = html`<p><a href="/preferences/${view.preferencesToken}?lang=${ctx.lang}">${t.orPreferences}</a></p>`;
    if (view.status !== 'confirmed' && view.status !== 'pending') {
      return sendPage(
        reply,
        200,
        messagePage(
          ctx,
          t.unsubscribedTitle,
          [view.status === 'unsubscribed' ? t.unsubscribedBody(view.listName) : t.notSubscribedBody],
          view.status === 'unsubscribed'
            ? html`<p>${t.changedMind}</p>${buttonForm(ctx.path, csrf, t.resubscribe, { action: 'resubscribe', lang: ctx.lang })}${preferences}`
            : preferences,
        ),
      );
    }
    return sendPage(
      reply,
      200,
      page(
        ctx,
        t.unsubscribeTitle,
        html`<p>${t.unsubscribeBody(view.listName, view.email)}</p>
<form method="post" action="${ctx.path}">
<input type="hidden" name="_csrf" value="${csrf}">
<input type="hidden" name="lang" value="${ctx.lang}">
<button type="submit" name="action" value="unsubscribe">${t.unsubscribeButton(view.listName)}</button>
<button type="submit" name="action" value="unsubscribe-all" class="secondary">${t.unsubscribeAll}</button>
</form>
${preferences}`,
      ),
    );
  });

  app.post<{ Params: TokenParams }>(
    '/unsubscribe/:token',
    {
      preHandler: (request, reply, done) => {
        if (isOneClickAttempt(request)) return done();
        app.csrfProtection(request, reply, done);
      },
    },
    async (request, reply) => {
      const { token } = request.params;
      if (isOneClickAttempt(request)) {
        requireOneClickBody(request);
        const outcome = await service.oneClick(token);
        request.log.info({ unsubscribe: outcome, via: 'one-click' }, 'unsubscribe');
        const t = messages(langOf(request));
        return sendPage(
          reply,
          200,
          messagePage(pageContext(request, deps.config), t.unsubscribedTitle, [
            outcome === 'test' ? t.testBody : t.oneClickDone,
          ]),
        );
      }
      return humanAction(request, reply, token);
    },
  );

  async function humanAction(request: FastifyRequest, reply: FastifyReply, token: string) {
    const ctx = pageContext(request, deps.config);
    const t = messages(ctx.lang);
    const action = field(request.body, 'action');
    if (action === 'unsubscribe' || action === 'unsubscribe-all') {
      const { test, left } = await service.leave(token, action === 'unsubscribe' ? 'list' : 'all', ctx.lang);
      request.log.info({ unsubscribe: left.length, via: 'page' }, 'unsubscribe');
      if (left.length > 0) deps.onMailQueued?.();
      if (test) return sendPage(reply, 200, messagePage(ctx, t.testTitle, [t.testBody]));
      const view = await service.view(token);
      const names =
        left.length > 0 ? await service.listNames(left) : view.kind === 'reader' ? [view.listName] : [];
      return sendPage(
        reply,
        200,
        messagePage(
          ctx,
          t.unsubscribedTitle,
          [t.unsubscribedBody(joinNames(t, names))],
          html`<p>${t.changedMind}</p>${buttonForm(ctx.path, reply.generateCsrf(), t.resubscribe, {
            action: 'resubscribe',
            lists: left.join(','),
            lang: ctx.lang,
          })}`,
        ),
      );
    }
    if (action === 'resubscribe') {
      const raw = field(request.body, 'lists') ?? '';
      const listIds = ids(raw === '' ? [] : raw.split(','));
      if (!listIds) throw new AppError('subscriptions.list_unknown', 'the lists field must be list ids');
      const outcome = await service.comeBack(token, listIds, ctx.lang);
      if (outcome.test) return sendPage(reply, 200, messagePage(ctx, t.testTitle, [t.testBody]));
      request.log.info(
        {
          resubscribed: outcome.confirmed.length,
          pending: outcome.pending.length,
          mailed: outcome.confirmQueued,
        },
        'resubscribe',
      );
      if (outcome.confirmQueued) deps.onMailQueued?.();
      const { confirmed, pending } = outcome;
      let back = await service.listNames(confirmed);
      let waiting = await service.listNames(pending);
      if (confirmed.length === 0 && pending.length === 0) {
        // nothing changed now (pressed twice, or an old page): say where the token's list stands
        const view = await service.view(token);
        if (view.kind === 'reader' && view.status === 'confirmed') back = [view.listName];
        else if (view.kind === 'reader' && view.status === 'pending') waiting = [view.listName];
        else {
          const names = view.kind === 'reader' ? [view.listName] : [];
          return sendPage(
            reply,
            200,
            messagePage(ctx, t.unsubscribedTitle, [t.unsubscribedBody(joinNames(t, names))]),
          );
        }
      }
      const paragraphs = [
        ...(back.length > 0 ? [t.resubscribedBody(joinNames(t, back))] : []),
        ...(waiting.length > 0 ? [t.comeBackConfirmBody(joinNames(t, waiting))] : []),
      ];
      return sendPage(
        reply,
        200,
        waiting.length > 0
          ? messagePage(ctx, t.checkInboxTitle, paragraphs, html`<p class="muted">${t.checkInboxHint}</p>`)
          : messagePage(ctx, t.resubscribedTitle, paragraphs),
      );
    }
    throw new AppError(
      'subscriptions.action_unknown',
      'the action must be unsubscribe, unsubscribe-all or resubscribe',
    );
  }
}
