import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from '../../core/errors.ts';
import { EditorsService, parseRole } from '../../editors/editors.service.ts';
import type { List } from '../../subscriptions/lists.service.ts';
import { ListsService } from '../../subscriptions/lists.service.ts';
import type { AppDeps } from '../http.context.ts';
import { consoleContext, errorPage, field, seeOther, sendConsolePage, sessionOf } from './console.context.ts';
import {
  type ConsoleContext,
  consolePage,
  csrfField,
  flash,
  formatTime,
  type Html,
  html,
  postButton,
} from './console.layout.ts';

/**
 * Lists (create and edit), editors (admins only) and the audit log. Lists go through ListsService,
 * editors through EditorsService: the same rules as `digestmail list …` and `digestmail editors …`.
 */
export async function consoleAdminRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { config } = deps;
  const lists = new ListsService(deps.db);
  const editors = new EditorsService(deps.db);
  const actor = (request: FastifyRequest) => ({ editor: sessionOf(request).editor });

  const listsPage = async (request: FastifyRequest, reply: FastifyReply, status: number, error?: string) => {
    const ctx = consoleContext(request, config);
    const { t } = ctx;
    const all = await lists.all();
    const done = (request.query as { done?: string } | undefined)?.done;
    return sendConsolePage(
      reply,
      status,
      consolePage(
        ctx,
        t.listsTitle,
        html`${flash(ctx, done, error)}
<section class="card">${
          all.length
            ? html`<div class="table-wrap"><table><thead><tr><th>${t.list}</th><th>${t.optIn}</th><th>${t.language}</th><th class="num">${t.confirmed}</th><th class="num">${t.pending}</th><th class="num">${t.unsubscribed}</th></tr></thead><tbody>${all.map(
                (l) =>
                  html`<tr><td><a href="/console/lists/${l.slug}">${l.name}</a> <span class="muted">${l.slug}${l.isPublic ? '' : ' · private'}</span></td><td>${l.optIn}</td><td>${l.language}</td><td class="num">${l.counts.confirmed}</td><td class="num">${l.counts.pending}</td><td class="num">${l.counts.unsubscribed}</td></tr>`,
              )}</tbody></table></div>`
            : html`<p class="muted">${t.noLists}</p>`
        }</section>
<section class="card"><h2>${t.createButton}</h2>${listForm(ctx, '/console/lists', undefined)}</section>`,
        { section: 'lists' },
      ),
    );
  };

  app.get('/lists', (request, reply) => listsPage(request, reply, 200));

  app.post('/lists', async (request, reply) => {
    try {
      const input = listInput(request.body);
      const created = await lists.create({
        slug: field(request.body, 'slug') ?? '',
        name: input.name ?? '',
        ...input,
      });
      await editors.audit(actor(request), 'list.create', 'list', created.slug);
      return seeOther(reply, '/console/lists?done=added');
    } catch (error) {
      if (!isAppError(error)) throw error;
      return listsPage(request, reply, error.status, error.message);
    }
  });

  const listPage = async (
    request: FastifyRequest<{ Params: { slug: string } }>,
    reply: FastifyReply,
    status: number,
    error?: string,
  ) => {
    const ctx = consoleContext(request, config);
    const list = await lists.find(request.params.slug);
    if (!list) return errorPage(request, reply, config, 404, ctx.t.notFound);
    const done = (request.query as { done?: string } | undefined)?.done;
    return sendConsolePage(
      reply,
      status,
      consolePage(
        ctx,
        list.name,
        html`${flash(ctx, done, error)}<section class="card">${listForm(ctx, `/console/lists/${list.slug}`, list)}</section>`,
        { section: 'lists' },
      ),
    );
  };

  app.get<{ Params: { slug: string } }>('/lists/:slug', (request, reply) => listPage(request, reply, 200));

  app.post<{ Params: { slug: string } }>('/lists/:slug', async (request, reply) => {
    try {
      const updated = await lists.update(request.params.slug, listInput(request.body));
      await editors.audit(actor(request), 'list.edit', 'list', updated.slug);
      return seeOther(reply, `/console/lists/${updated.slug}?done=saved`);
    } catch (error) {
      if (!isAppError(error)) throw error;
      return listPage(request, reply, error.status, error.message);
    }
  });

  // Editors: admins only. An editor who types the URL gets "not found", as for anything not theirs.
  const editorsPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    error?: string,
  ) => {
    const ctx = consoleContext(request, config);
    const { t } = ctx;
    if (sessionOf(request).editor.role !== 'admin') return errorPage(request, reply, config, 404, t.notFound);
    const all = await editors.all();
    const done = (request.query as { done?: string } | undefined)?.done;
    return sendConsolePage(
      reply,
      status,
      consolePage(
        ctx,
        t.editorsTitle,
        html`${flash(ctx, done, error)}
<section class="card"><div class="table-wrap"><table><thead><tr><th>${t.email}</th><th>${t.name}</th><th>${t.role}</th><th>${t.since}</th><th></th></tr></thead><tbody>${all.map(
          (e) =>
            html`<tr><td>${e.email}</td><td>${e.name ?? ''}</td><td>${e.role}</td><td>${formatTime(e.createdAt, config.TZ, ctx.lang)}</td><td>${postButton(
              ctx,
              '/console/editors/remove',
              t.remove,
              { className: 'danger', fields: { email: e.email } },
            )}</td></tr>`,
        )}</tbody></table></div></section>
<section class="card"><h2>${t.add}</h2><form method="post" action="/console/editors">${csrfField(ctx)}<div class="inline">
<div class="field"><label for="e-email">${t.email}</label><input type="email" id="e-email" name="email" required maxlength="254"></div>
<div class="field"><label for="e-name">${t.name} <span class="opt">(${t.optional})</span></label><input type="text" id="e-name" name="name" maxlength="200"></div>
<div class="field"><label for="e-role">${t.role}</label><select id="e-role" name="role"><option value="editor">editor</option><option value="admin">admin</option></select></div>
<button type="submit">${t.add}</button></div></form></section>`,
        { section: 'editors' },
      ),
    );
  };

  app.get('/editors', (request, reply) => editorsPage(request, reply, 200));

  app.post('/editors', async (request, reply) => {
    if (sessionOf(request).editor.role !== 'admin')
      return errorPage(request, reply, config, 404, consoleContext(request, config).t.notFound);
    try {
      const name = field(request.body, 'name');
      await editors.add(
        {
          email: field(request.body, 'email') ?? '',
          role: parseRole(field(request.body, 'role') ?? 'editor'),
          ...(name ? { name } : {}),
        },
        actor(request),
      );
      return seeOther(reply, '/console/editors?done=added');
    } catch (error) {
      if (!isAppError(error)) throw error;
      return editorsPage(request, reply, error.status, error.message);
    }
  });

  app.post('/editors/remove', async (request, reply) => {
    if (sessionOf(request).editor.role !== 'admin')
      return errorPage(request, reply, config, 404, consoleContext(request, config).t.notFound);
    try {
      await editors.remove(field(request.body, 'email') ?? '', actor(request));
      return seeOther(reply, '/console/editors?done=removed');
    } catch (error) {
      if (!isAppError(error)) throw error;
      return editorsPage(request, reply, error.status, error.message);
    }
  });

  app.get<{ Querystring: { before?: string } }>('/audit', async (request, reply) => {
    const ctx = consoleContext(request, config);
    const { t } = ctx;
    const before = Number.parseInt(request.query.before ?? '', 10);
    const rows = await editors.auditLog(101, Number.isFinite(before) ? before : undefined);
    const shown = rows.slice(0, 100);
    return sendConsolePage(
      reply,
      200,
      consolePage(
        ctx,
        t.auditTitle,
        html`<section class="card">${
          shown.length
            ? html`<div class="table-wrap"><table><thead><tr><th>${t.when}</th><th>${t.who}</th><th>${t.what}</th><th>${t.object}</th></tr></thead><tbody>${shown.map(
                (r) =>
                  html`<tr><td>${formatTime(r.at, config.TZ, ctx.lang)}</td><td>${r.actor}</td><td>${r.action}</td><td>${r.objectType} ${r.objectId ?? ''}</td></tr>`,
              )}</tbody></table></div>${rows.length > 100 ? html`<p><a href="/console/audit?before=${shown[shown.length - 1]!.id}">→</a></p>` : ''}`
            : html`<p class="muted">${t.nothing}</p>`
        }</section>`,
        { section: 'audit' },
      ),
    );
  });
}

function listInput(body: unknown) {
  const topics = field(body, 'topics');
  return {
    ...(field(body, 'name') === undefined ? {} : { name: field(body, 'name')! }),
    description: field(body, 'description') ?? '',
    optIn: field(body, 'opt_in') === 'single' ? ('single' as const) : ('double' as const),
    language: field(body, 'language') ?? 'en',
    topics: topics ? topics.split(/[,，]/) : [],
    isPublic: field(body, 'public') === 'on',
    trackClicks: field(body, 'track_clicks') === 'on',
  };
}

function listForm(ctx: ConsoleContext, action: string, list: List | undefined): Html {
  const { t } = ctx;
  return html`<form method="post" action="${action}" accept-charset="utf-8">${csrfField(ctx)}
${list ? '' : html`<div class="field"><label for="l-slug">${t.slug}</label><input type="text" id="l-slug" name="slug" required maxlength="63" pattern="[a-z0-9][a-z0-9\\-]{0,62}"></div>`}
<div class="field"><label for="l-name">${t.name}</label><input type="text" id="l-name" name="name" required maxlength="200" value="${list?.name ?? ''}"></div>
<div class="field"><label for="l-description">${t.description} <span class="opt">(${t.optional})</span></label><input type="text" id="l-description" name="description" maxlength="500" value="${list?.description ?? ''}"></div>
<div class="field"><label for="l-optin">${t.optIn}</label><select id="l-optin" name="opt_in"><option value="double"${list?.optIn === 'single' ? '' : html` selected`}>${t.double}</option><option value="single"${list?.optIn === 'single' ? html` selected` : ''}>${t.single}</option></select></div>
<div class="field"><label for="l-language">${t.language}</label><select id="l-language" name="language"><option value="en"${list?.language === 'zh-CN' ? '' : html` selected`}>English</option><option value="zh-CN"${list?.language === 'zh-CN' ? html` selected` : ''}>简体中文</option></select></div>
<div class="field"><label for="l-topics">${t.topics} <span class="opt">(${t.optional})</span></label><input type="text" id="l-topics" name="topics" value="${list?.topics.join(', ') ?? ''}" aria-describedby="l-topics-hint"><p class="hint" id="l-topics-hint">${t.topicsHint}</p></div>
<div class="field"><label class="check"><input type="checkbox" name="public"${!list || list.isPublic ? html` checked` : ''}> ${t.public}</label></div>
<div class="field"><label class="check"><input type="checkbox" name="track_clicks" aria-describedby="l-clicks-hint"${list?.trackClicks ? html` checked` : ''}> ${t.trackClicks}</label><p class="hint" id="l-clicks-hint">${t.trackClicksHint}</p></div>
<button type="submit">${list ? t.save : t.createButton}</button></form>`;
}
