import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.ts';
import { PreferencesService, type PreferencesView } from '../subscriptions/preferences.service.ts';
import { html } from './html.ts';
import { type AppDeps, field, fields, ids, pageContext, sendPage, signerOf } from './http.context.ts';
import { messages } from './i18n.ts';
import { joinNames, messagePage, preferencesPage } from './pages.ts';

interface TokenParams {
  token: string;
}

/** A reader's settings page: name, lists, topics per list, or leave everything. */
export async function preferencesRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const service = new PreferencesService(deps.db, signerOf(deps));

  function show(
    request: FastifyRequest,
    reply: FastifyReply,
    view: PreferencesView,
    status: number,
    notes: { notice?: string; error?: string } = {},
  ) {
    const ctx = pageContext(request, deps.config);
    return sendPage(
      reply,
      status,
      preferencesPage(ctx, {
        action: ctx.path,
        csrf: reply.generateCsrf(),
        email: view.reader.email,
        name: view.reader.name,
        countClicks: view.lists.some((l) => l.trackClicks) ? view.reader.trackClicks : undefined,
        lists: view.lists.map((l) => ({
          id: l.listId,
          name: l.name,
          description: l.description,
          subscribed: l.status === 'confirmed',
          pending: l.status === 'pending',
          offeredTopics: l.offeredTopics,
          chosenTopics: l.chosenTopics,
        })),
        ...notes,
      }),
    );
  }

  /** Links from an editor's test send lead to a notice, never to someone's settings. */
  function testNotice(request: FastifyRequest, reply: FastifyReply) {
    const ctx = pageContext(request, deps.config);
    const t = messages(ctx.lang);
    return sendPage(reply, 200, messagePage(ctx, t.testTitle, [t.testBody]));
  }

  app.get<{ Params: TokenParams }>('/preferences/:token', async (request, reply) => {
    if (service.isTestLink(request.params.token)) return testNotice(request, reply);
    return show(request, reply, await service.view(request.params.token), 200);
  });

  app.post<{ Params: TokenParams }>(
    '/preferences/:token',
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const { token } = request.params;
      if (service.isTestLink(token)) return testNotice(request, reply);
      const ctx = pageContext(request, deps.config);
      const t = messages(ctx.lang);
      const body = request.body;
      const action = field(body, 'action');
      if (action === 'leave-all') {
        const left = await service.leaveAll(token, ctx.lang);
        request.log.info({ unsubscribe: left.length, via: 'preferences' }, 'unsubscribe');
        if (left.length > 0) deps.onMailQueued?.();
        return sendPage(
          reply,
          200,
          messagePage(
            ctx,
            t.unsubscribedTitle,
            [t.unsubscribedBody(t.lists)],
            html`<p>${t.changedMind} <a href="${ctx.path}?lang=${ctx.lang}">${t.changePreferences}</a></p>`,
          ),
        );
      }
      if (action !== 'save') {
        throw new AppError('subscriptions.action_unknown', 'the action must be save or leave-all');
      }
      const lists = ids(fields(body, 'lists'));
      if (!lists) throw new AppError('subscriptions.list_unknown', 'the lists field must be list ids');
      const topics = new Map<number, string[]>();
      for (const key of Object.keys((body as Record<string, unknown>) ?? {})) {
        const match = /^topics_([1-9][0-9]{0,9})$/.exec(key);
        if (match) topics.set(Number(match[1]), fields(body, key));
      }
      // The checkbox is only on the page when a list counts clicks; its hidden twin says it was shown.
      const countClicks =
        field(body, 'clicks_offered') === '1' ? field(body, 'count_clicks') === 'on' : undefined;
      const saved = await service.save(
        token,
        {
          name: field(body, 'name'),
          lists,
          topics,
          ...(countClicks === undefined ? {} : { countClicks }),
        },
        ctx.lang,
      );
      request.log.info(
        {
          preferences: 'saved',
          joined: saved.confirmed.length,
          pending: saved.pending.length,
          mailed: saved.confirmQueued,
        },
        'preferences',
      );
      if (saved.confirmQueued) deps.onMailQueued?.();
      // a double-opt-in list ticked waits for the mailed link: the page says where to look
      const waiting = saved.lists.filter((l) => saved.pending.includes(l.listId)).map((l) => l.name);
      const notice = [
        t.savedBody,
        ...(waiting.length > 0 ? [t.joinConfirmBody(joinNames(t, waiting)), t.checkInboxHint] : []),
        ...(saved.joinRefused ? [t.suppressedBody] : []),
      ].join(' ');
      return show(request, reply, saved, 200, { notice });
    },
  );
}
