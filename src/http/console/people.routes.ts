import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SuppressionsService, parseSuppressionReason } from '../../bounces/suppressions.service.ts';
import { isAppError } from '../../core/errors.ts';
import { EditorsService } from '../../editors/editors.service.ts';
import type { InvalidRow } from '../../subscriptions/subscribers.import.ts';
import { ListsService } from '../../subscriptions/lists.service.ts';
import { SubscribersService, parseSubscriptionStatus } from '../../subscriptions/subscribers.service.ts';
import { type AppDeps, parseId } from '../http.context.ts';
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

import { CONSOLE_UPLOAD_LIMIT } from './console.limits.ts';

/** Invalid rows listed on the import report page; the rest are counted. */
const SHOWN_INVALID_ROWS = 200;
const SUPPRESSIONS_PAGE = 100;

/**
 * Subscribers (search, a person's page, add, import, export, erase) and the suppression list. The
 * same services as `digestmail subscribers …` and `digestmail suppressions …`: one copy of each rule.
 */
export async function consolePeopleRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { config } = deps;
  const subscribers = new SubscribersService(deps.db);
  const suppressions = new SuppressionsService(deps.db);
  const lists = new ListsService(deps.db);
  const editors = new EditorsService(deps.db);
  const audit = (request: FastifyRequest, action: string, type: string, id: string | number, detail = {}) =>
    editors.audit({ editor: sessionOf(request).editor }, action, type, id, detail);

  const subscribersPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    extra: { error?: string; report?: Html } = {},
  ) => {
    const ctx = consoleContext(request, config);
    const { t } = ctx;
    const query = (request.query as { q?: string; done?: string } | undefined) ?? {};
    const q = (query.q ?? '').slice(0, 254);
    const [matches, allLists] = await Promise.all([subscribers.search(q), lists.all()]);
    const listOptions = allLists.map((l) => html`<option value="${l.slug}">${l.name} (${l.slug})</option>`);
    const results = q
      ? matches.length
        ? html`<div class="table-wrap"><table><thead><tr><th>${t.email}</th><th>${t.name}</th><th>${t.since}</th></tr></thead><tbody>${matches.map(
            (m) =>
              html`<tr><td><a href="/console/subscribers/${m.id}">${m.email}</a></td><td>${m.name ?? ''}</td><td>${formatTime(m.createdAt, config.TZ, ctx.lang)}</td></tr>`,
          )}</tbody></table></div>`
        : html`<p class="muted">${t.noResults}</p>`
      : '';
    return sendConsolePage(
      reply,
      status,
      consolePage(
        ctx,
        t.subscribersTitle,
        html`${flash(ctx, query.done, extra.error)}${extra.report ?? ''}
<section class="card"><form method="get" action="/console/subscribers" role="search"><div class="inline">
<div class="field"><label for="q">${t.search}</label><input type="search" id="q" name="q" value="${q}" aria-describedby="q-hint" autocomplete="off"></div>
<button type="submit">${t.search}</button></div><p class="hint" id="q-hint">${t.searchHint}</p></form>${results}</section>
<div class="grid">
<section class="card"><h2>${t.add}</h2><form method="post" action="/console/subscribers">${csrfField(ctx)}
<div class="field"><label for="add-email">${t.email}</label><input type="email" id="add-email" name="email" required maxlength="254"></div>
<div class="field"><label for="add-name">${t.name} <span class="opt">(${t.optional})</span></label><input type="text" id="add-name" name="name" maxlength="200"></div>
<div class="field"><label for="add-list">${t.list}</label><select id="add-list" name="list" required>${listOptions}</select></div>
<div class="field"><label for="add-status">${t.statusLabel}</label><select id="add-status" name="status"><option value="confirmed">${t.confirmed}</option><option value="pending">${t.pending}</option></select></div>
<button type="submit">${t.add}</button></form></section>
<section class="card"><h2>${t.importTitle}</h2><form method="post" action="/console/subscribers/import" enctype="multipart/form-data">${csrfField(ctx)}
<div class="field"><label for="import-file">${t.csvFile}</label><input type="file" id="import-file" name="file" accept=".csv,text/csv" required></div>
<div class="field"><label for="import-list">${t.list}</label><select id="import-list" name="list" required>${listOptions}</select></div>
<div class="field"><label for="import-status">${t.statusLabel}</label><select id="import-status" name="status"><option value="confirmed">${t.confirmed}</option><option value="pending">${t.pending}</option></select></div>
<button type="submit">${t.import}</button></form></section>
<section class="card"><h2>${t.exportTitle}</h2><form method="get" action="/console/subscribers/export">
<div class="field"><label for="export-list">${t.list}</label><select id="export-list" name="list" required>${listOptions}</select></div>
<button type="submit">${t.export}</button></form></section>
</div>`,
        { section: 'subscribers' },
      ),
    );
  };

  app.get('/subscribers', (request, reply) => subscribersPage(request, reply, 200));

  app.post('/subscribers', async (request, reply) => {
    try {
      const added = await subscribers.add({
        email: field(request.body, 'email') ?? '',
        listSlug: field(request.body, 'list') ?? '',
        status: parseSubscriptionStatus(field(request.body, 'status') ?? 'confirmed', [
          'pending',
          'confirmed',
        ]),
        source: 'console',
        ...(field(request.body, 'name') ? { name: field(request.body, 'name') } : {}),
      });
      await audit(request, 'subscriber.add', 'subscriber', added.email, {
        list: field(request.body, 'list'),
      });
      return seeOther(reply, `/console/subscribers/${added.id}?done=added`);
    } catch (error) {
      if (!isAppError(error)) throw error;
      return subscribersPage(request, reply, error.status, { error: error.message });
    }
  });

  app.post('/subscribers/import', { bodyLimit: CONSOLE_UPLOAD_LIMIT }, async (request, reply) => {
    const ctx = consoleContext(request, config);
    const file = (request.body as Record<string, unknown> | undefined)?.file;
    const listSlug = field(request.body, 'list') ?? '';
    const invalidRows: InvalidRow[] = [];
    try {
      const status = parseSubscriptionStatus(field(request.body, 'status') ?? 'confirmed', [
        'pending',
        'confirmed',
      ]) as 'pending' | 'confirmed';
      const input = Readable.from([Buffer.isBuffer(file) ? file : Buffer.alloc(0)]);
      const report = await subscribers.importStream(input, listSlug, status, {
        onInvalid: (row) => {
          if (invalidRows.length < SHOWN_INVALID_ROWS) invalidRows.push(row);
        },
      });
      await audit(request, 'subscriber.import', 'list', listSlug, { ...report });
      return subscribersPage(request, reply, 200, { report: importReport(ctx, report, invalidRows) });
    } catch (error) {
      if (!isAppError(error)) throw error;
      return subscribersPage(request, reply, error.status, { error: error.message });
    }
  });

  app.get<{ Querystring: { list?: string; status?: string } }>(
    '/subscribers/export',
    async (request, reply) => {
      const listSlug = request.query.list ?? '';
      let status: ReturnType<typeof parseSubscriptionStatus> | undefined;
      try {
        status = request.query.status ? parseSubscriptionStatus(request.query.status) : undefined;
        await lists.require(listSlug);
      } catch (error) {
        if (!isAppError(error)) throw error;
        return errorPage(request, reply, config, error.status, error.message);
      }
      await audit(request, 'subscriber.export', 'list', listSlug, status ? { status } : {});
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="${listSlug}-subscribers.csv"`,
        'cache-control': 'no-store',
      });
      try {
        await subscribers.export(listSlug, status, reply.raw);
      } finally {
        reply.raw.end();
      }
    },
  );

  app.get<{ Params: { id: string }; Querystring: { done?: string } }>(
    '/subscribers/:id',
    async (request, reply) => {
      const ctx = consoleContext(request, config);
      const id = parseId(request.params.id);
      const person = id === undefined ? undefined : await subscribers.detail(id);
      if (!person) return errorPage(request, reply, config, 404, ctx.t.notFound);
      return sendConsolePage(
        reply,
        200,
        consolePage(ctx, person.email, subscriberBody(ctx, config.TZ, person, request.query.done), {
          section: 'subscribers',
        }),
      );
    },
  );

  app.post<{ Params: { id: string } }>('/subscribers/:id/erase', async (request, reply) => {
    const ctx = consoleContext(request, config);
    const id = parseId(request.params.id);
    const person = id === undefined ? undefined : await subscribers.detail(id);
    if (!person) return errorPage(request, reply, config, 404, ctx.t.notFound);
    const typed = (field(request.body, 'confirm') ?? '').trim().toLowerCase();
    if (typed !== person.email) {
      return sendConsolePage(
        reply,
        400,
        consolePage(
          ctx,
          person.email,
          subscriberBody(ctx, config.TZ, person, undefined, ctx.t.eraseConfirm),
          { section: 'subscribers' },
        ),
      );
    }
    await subscribers.remove(person.email);
    await audit(request, 'subscriber.erase', 'subscriber', person.email);
    return seeOther(reply, '/console/subscribers?done=erased');
  });

  const suppressionsPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    error?: string,
  ) => {
    const ctx = consoleContext(request, config);
    const { t } = ctx;
    const query = (request.query as { page?: string; done?: string } | undefined) ?? {};
    const page = Math.max(0, Math.min(10_000, Number.parseInt(query.page ?? '0', 10) || 0));
    const [rows, events] = await Promise.all([
      suppressions.page(SUPPRESSIONS_PAGE + 1, page * SUPPRESSIONS_PAGE),
      suppressions.recentEvents(20),
    ]);
    const more = rows.length > SUPPRESSIONS_PAGE;
    return sendConsolePage(
      reply,
      status,
      consolePage(
        ctx,
        t.suppressionsTitle,
        html`${flash(ctx, query.done, error)}
<section class="card"><h2>${t.add}</h2><form method="post" action="/console/suppressions">${csrfField(ctx)}<div class="inline">
<div class="field"><label for="s-email">${t.email}</label><input type="email" id="s-email" name="email" required maxlength="254"></div>
<div class="field"><label for="s-reason">${t.reason}</label><select id="s-reason" name="reason"><option value="manual">manual</option><option value="hard_bounce">hard_bounce</option><option value="complaint">complaint</option></select></div>
<div class="field"><label for="s-note">${t.note} <span class="opt">(${t.optional})</span></label><input type="text" id="s-note" name="note" maxlength="500"></div>
<button type="submit">${t.add}</button></div></form></section>
<section class="card"><h2>${t.suppressionsTitle}</h2>${
          rows.length
            ? html`<div class="table-wrap"><table><thead><tr><th>${t.email}</th><th>${t.reason}</th><th>${t.since}</th><th>${t.note}</th><th></th></tr></thead><tbody>${rows
                .slice(0, SUPPRESSIONS_PAGE)
                .map(
                  (r) =>
                    html`<tr><td>${r.email}</td><td>${r.reason}</td><td>${formatTime(r.created_at, config.TZ, ctx.lang)}</td><td>${r.note ?? ''}</td><td>${postButton(
                      ctx,
                      '/console/suppressions/remove',
                      t.remove,
                      { className: 'quiet', fields: { email: r.email } },
                    )}</td></tr>`,
                )}</tbody></table></div>`
            : html`<p class="muted">${t.nothing}</p>`
        }
${page > 0 ? html`<a href="/console/suppressions?page=${page - 1}">←</a> ` : ''}${more ? html`<a href="/console/suppressions?page=${page + 1}">→</a>` : ''}</section>
<section class="card"><h2>${t.recentEvents}</h2>${
          events.length
            ? html`<div class="table-wrap"><table><thead><tr><th>${t.when}</th><th>${t.email}</th><th>${t.what}</th><th>${t.reason}</th></tr></thead><tbody>${events.map(
                (e) =>
                  html`<tr><td>${formatTime(e.occurred_at, config.TZ, ctx.lang)}</td><td>${e.email ?? ''}</td><td>${e.type} (${e.source})</td><td>${e.detail ?? ''}</td></tr>`,
              )}</tbody></table></div>`
            : html`<p class="muted">${t.nothing}</p>`
        }</section>`,
        { section: 'suppressions' },
      ),
    );
  };

  app.get('/suppressions', (request, reply) => suppressionsPage(request, reply, 200));

  app.post('/suppressions', async (request, reply) => {
    try {
      const reason = parseSuppressionReason(field(request.body, 'reason') ?? 'manual');
      const { row } = await suppressions.add(
        field(request.body, 'email') ?? '',
        reason,
        field(request.body, 'note'),
      );
      await audit(request, 'suppression.add', 'suppression', row.email, { reason });
      return seeOther(reply, '/console/suppressions?done=added');
    } catch (error) {
      if (!isAppError(error)) throw error;
      return suppressionsPage(request, reply, error.status, error.message);
    }
  });

  app.post('/suppressions/remove', async (request, reply) => {
    try {
      const removed = await suppressions.remove(field(request.body, 'email') ?? '');
      await audit(request, 'suppression.remove', 'suppression', removed.email);
      return seeOther(reply, '/console/suppressions?done=removed');
    } catch (error) {
      if (!isAppError(error)) throw error;
      return suppressionsPage(request, reply, error.status, error.message);
    }
  });
}

function importReport(
  ctx: ConsoleContext,
  report: { imported: number; updated: number; skipped: number; invalid: number },
  rows: InvalidRow[],
): Html {
  return html`<section class="card" role="status"><h2>${ctx.t.importTitle}</h2><p>${ctx.t.importReport(report)}</p>${
    rows.length
      ? html`<ul class="warn">${rows.map((r) => html`<li>line ${r.line}: ${r.reason}</li>`)}</ul>`
      : ''
  }${report.invalid > rows.length ? html`<p class="muted">… ${report.invalid - rows.length}</p>` : ''}</section>`;
}

function subscriberBody(
  ctx: ConsoleContext,
  timeZone: string,
  person: NonNullable<Awaited<ReturnType<SubscribersService['detail']>>>,
  done: string | undefined,
  error?: string,
): Html {
  const { t } = ctx;
  return html`${flash(ctx, done, error)}
<section class="card"><dl class="facts"><dt>${t.email}</dt><dd>${person.email}</dd><dt>${t.name}</dt><dd>${person.name ?? ''}</dd>
<dt>${t.since}</dt><dd>${formatTime(person.createdAt, timeZone, ctx.lang)}</dd>
${person.suppression ? html`<dt>${t.nav.suppressions}</dt><dd class="warn">${person.suppression}</dd>` : ''}</dl></section>
<section class="card"><h2>${t.lists}</h2>${
    person.subscriptions.length
      ? html`<div class="table-wrap"><table><thead><tr><th>${t.list}</th><th>${t.statusLabel}</th><th>${t.topics}</th><th>${t.since}</th></tr></thead><tbody>${person.subscriptions.map(
          (s) =>
            html`<tr><td>${s.listName} (${s.listSlug})</td><td>${s.status}</td><td>${s.topics.join(', ')}</td><td>${formatTime(s.since, timeZone, ctx.lang)}</td></tr>`,
        )}</tbody></table></div>`
      : html`<p class="muted">${t.nothing}</p>`
  }</section>
<section class="card"><h2>${t.recentDeliveries}</h2>${
    person.deliveries.length
      ? html`<div class="table-wrap"><table><tbody>${person.deliveries.map(
          (d) =>
            html`<tr><td><a href="/console/issues/${d.issueId}">${d.title}</a></td><td>${d.status}</td><td>${formatTime(d.sentAt, timeZone, ctx.lang)}</td><td>${d.lastError ?? ''}</td></tr>`,
        )}</tbody></table></div>`
      : html`<p class="muted">${t.nothing}</p>`
  }</section>
<section class="card"><h2>${t.recentEvents}</h2>${
    person.events.length
      ? html`<div class="table-wrap"><table><tbody>${person.events.map(
          (e) =>
            html`<tr><td>${formatTime(e.at, timeZone, ctx.lang)}</td><td>${e.type} (${e.source})</td><td>${e.detail ?? ''}</td></tr>`,
        )}</tbody></table></div>`
      : html`<p class="muted">${t.nothing}</p>`
  }</section>
<section class="card"><h2>${t.erase}</h2><form method="post" action="/console/subscribers/${person.id}/erase">${csrfField(ctx)}<div class="inline">
<div class="field"><label for="erase-confirm">${t.eraseConfirm}</label><input type="text" id="erase-confirm" name="confirm" autocomplete="off" required></div>
<button type="submit" class="danger">${t.erase}</button></div></form></section>`;
}
