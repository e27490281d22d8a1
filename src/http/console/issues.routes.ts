import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from '../../core/errors.ts';
import { type ClickReport, ClicksService } from '../../clicks/clicks.service.ts';
import { EditorsService } from '../../editors/editors.service.ts';
import { IssuesService, type IssueStatusReport } from '../../issues/issues.service.ts';
import { ListsService } from '../../subscriptions/lists.service.ts';
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
  statusBadge,
} from './console.layout.ts';
import { ConsolePreviews, type PreviewSummary } from './console.previews.ts';

/** A digest of a thousand items is well under this; it bounds what one preview request makes us parse. */
const DIGEST_BODY_LIMIT = 4 * 1024 * 1024;

/** Gmail clips a message whose HTML passes 102 KB; warn at 80 % of it. */
const CLIP_BYTES = 102 * 1024;

const COUNT_KEYS = [
  'total',
  'queued',
  'sending',
  'sent',
  'delivered',
  'failed',
  'bounced',
  'complained',
  'suppressed',
  'unsubscribed',
  'resent_after_crash',
] as const;

/** How often the live view looks at the counts; an event goes out only when they changed. */
const EVENT_POLL_MS = 1000;
const EVENT_HEARTBEAT_MS = 15_000;

/**
 * The dashboard and everything about issues: write (paste or upload) with a live preview, create,
 * test, schedule, send (typing the number of readers), pause, resume, cancel, and watch the counts
 * live. Every action goes through IssuesService / TestSendService, the same as the CLI's.
 */
export async function consoleIssueRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { config } = deps;
  const issues = new IssuesService(deps.db, config);
  const lists = new ListsService(deps.db);
  const editors = new EditorsService(deps.db);
  const previews = new ConsolePreviews(deps.db, config);
  const clicks = new ClicksService(deps.db);

  app.get('/', async (request, reply) => {
    const ctx = consoleContext(request, config);
    const { t } = ctx;
    const [allLists, allIssues] = await Promise.all([lists.all(), issues.all()]);
    const listTable = allLists.length
      ? html`<div class="table-wrap"><table><thead><tr><th>${t.list}</th><th class="num">${t.confirmed}</th><th class="num">${t.pending}</th><th class="num">${t.unsubscribed}</th></tr></thead><tbody>${allLists.map(
          (l) =>
            html`<tr><td><a href="/console/lists/${l.slug}">${l.name}</a> <span class="muted">${l.slug}</span></td><td class="num">${l.counts.confirmed}</td><td class="num">${l.counts.pending}</td><td class="num">${l.counts.unsubscribed}</td></tr>`,
        )}</tbody></table></div>`
      : html`<p>${t.noLists} <a href="/console/lists">${t.nav.lists}</a></p>`;
    const order = ['sending', 'paused', 'scheduled', 'draft', 'sent', 'cancelled'];
    const sorted = [...allIssues].sort(
      (a, b) => order.indexOf(a.status) - order.indexOf(b.status) || b.id - a.id,
    );
    const issueTable = sorted.length
      ? html`<div class="table-wrap"><table><thead><tr><th>#</th><th>${t.title}</th><th>${t.list}</th><th>${t.statusLabel}</th><th>${t.progress}</th><th>${t.when}</th></tr></thead><tbody>${sorted.map(
          (i) =>
            html`<tr><td>${i.id}</td><td><a href="/console/issues/${i.id}">${i.title}</a></td><td>${i.listSlug}</td><td>${statusBadge(ctx, i.status)}</td><td class="num">${
              i.total > 0
                ? html`${i.sent} / ${i.total}${i.failed ? html` <span class="warn">(${i.failed} ${t.counts.failed})</span>` : ''}`
                : ''
            }</td><td>${formatTime(i.finishedAt ?? i.startedAt ?? i.sendAt ?? i.createdAt, config.TZ, ctx.lang)}</td></tr>`,
        )}</tbody></table></div>`
      : html`<p>${t.noIssues} <a href="/console/issues/new">${t.nav.newIssue}</a></p>`;
    return sendConsolePage(
      reply,
      200,
      consolePage(
        ctx,
        t.dashboardTitle,
        html`<div class="grid"><section class="card"><h2>${t.lists}</h2>${listTable}</section></div>
<section class="card"><h2>${t.issues}</h2>${issueTable}</section>`,
        { section: 'dashboard' },
      ),
    );
  });

  const newIssuePage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    form: { markdown: string; list?: string; error?: string; preview?: PreviewSummary },
  ) => {
    const ctx = consoleContext(request, config);
    const allLists = await lists.all();
    return sendConsolePage(
      reply,
      status,
      consolePage(ctx, ctx.t.newIssueTitle, newIssueForm(ctx, allLists, form), {
        section: 'newIssue',
        scripts: ['preview.js'],
      }),
    );
  };

  app.get('/issues/new', async (request, reply) => newIssuePage(request, reply, 200, { markdown: '' }));

  app.post('/issues', { bodyLimit: DIGEST_BODY_LIMIT }, async (request, reply) => {
    const session = sessionOf(request);
    const markdown = digestText(request.body);
    const listSlug = field(request.body, 'list') ?? '';
    try {
      const issue = await issues.createFromMarkdown(markdown, listSlug);
      await editors.audit({ editor: session.editor }, 'issue.create', 'issue', issue.id, { list: listSlug });
      return seeOther(reply, `/console/issues/${issue.id}?done=created`);
    } catch (error) {
      if (!isAppError(error)) throw error;
      return newIssuePage(request, reply, error.status, { markdown, list: listSlug, error: error.message });
    }
  });

  // The live preview: JSON for the page's script, the whole page (with the preview) without it.
  app.post('/preview', { bodyLimit: DIGEST_BODY_LIMIT }, async (request, reply) => {
    const session = sessionOf(request);
    const markdown = digestText(request.body);
    const listSlug = field(request.body, 'list');
    const wantsJson = /application\/json/.test(request.headers.accept ?? '');
    try {
      const preview = await previews.fromMarkdown(session.editor.id, markdown, listSlug);
      if (wantsJson)
        return reply
          .header('cache-control', 'no-store')
          .send(previewJson(consoleContext(request, config), preview));
      return newIssuePage(request, reply, 200, {
        markdown,
        ...(listSlug ? { list: listSlug } : {}),
        preview,
      });
    } catch (error) {
      if (!isAppError(error)) throw error;
      if (wantsJson) return reply.header('cache-control', 'no-store').send({ error: error.message });
      return newIssuePage(request, reply, error.status, {
        markdown,
        ...(listSlug ? { list: listSlug } : {}),
        error: error.message,
      });
    }
  });

  app.get<{ Params: { id: string }; Querystring: { scheme?: string } }>(
    '/previews/:id',
    async (request, reply) => {
      const html = await previews.frame(sessionOf(request).editor.id, request.params.id);
      if (html === undefined)
        return errorPage(request, reply, config, 404, consoleContext(request, config).t.notFound);
      return sendFrame(reply, html, request.query.scheme);
    },
  );

  const issuePage = async (
    request: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
    status = 200,
    error?: string,
  ) => {
    const id = parseId(request.params.id);
    if (id === undefined)
      return errorPage(request, reply, config, 404, consoleContext(request, config).t.notFound);
    const ctx = consoleContext(request, config);
    let report: IssueStatusReport;
    try {
      report = await issues.status(id);
    } catch (e) {
      if (isAppError(e)) return errorPage(request, reply, config, e.status, e.message);
      throw e;
    }
    const recipients =
      report.issue.status === 'draft' || report.issue.status === 'scheduled'
        ? await issues.recipientCount(id)
        : undefined;
    const clickReport =
      report.issue.status === 'sending' || report.issue.status === 'sent' || report.issue.status === 'paused'
        ? await clicks.report(id)
        : undefined;
    const done = (request.query as { done?: string } | undefined)?.done;
    return sendConsolePage(
      reply,
      status,
      consolePage(
        ctx,
        report.issue.title,
        issueBody(
          ctx,
          config.TZ,
          report,
          recipients,
          sessionOf(request).editor.email,
          done,
          error,
          clickReport,
        ),
        {
          section: '',
          scripts: report.issue.status === 'sending' ? ['live.js'] : [],
        },
      ),
    );
  };

  app.get<{ Params: { id: string } }>('/issues/:id', (request, reply) => issuePage(request, reply));

  app.get<{ Params: { id: string }; Querystring: { scheme?: string } }>(
    '/issues/:id/frame',
    async (request, reply) => {
      const id = parseId(request.params.id);
      const html = id === undefined ? undefined : await previews.ofIssue(id);
      if (html === undefined)
        return errorPage(request, reply, config, 404, consoleContext(request, config).t.notFound);
      return sendFrame(reply, html, request.query.scheme);
    },
  );

  app.get<{ Params: { id: string } }>('/issues/:id/events', async (request, reply) => {
    const id = parseId(request.params.id);
    if (id === undefined)
      return errorPage(request, reply, config, 404, consoleContext(request, config).t.notFound);
    const ctx = consoleContext(request, config);
    await issues.require(id);
    reply.hijack();
    const out = reply.raw;
    out.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    let last = '';
    let lastWrite = Date.now();
    let closed = false;
    request.raw.on('close', () => {
      closed = true;
    });
    // Counts are read once a second (O(1) per issue), and sent only when they changed.
    while (!closed) {
      try {
        const { issue, counts } = await issues.status(id);
        const finished =
          counts.sent +
          counts.delivered +
          counts.failed +
          counts.bounced +
          counts.complained +
          counts.suppressed +
          counts.unsubscribed;
        const event = JSON.stringify({
          status: issue.status,
          statusLabel: ctx.t.status[issue.status] ?? issue.status,
          counts,
          done: finished,
        });
        if (event !== last) {
          out.write(`data: ${event}\n\n`);
          last = event;
          lastWrite = Date.now();
        } else if (Date.now() - lastWrite > EVENT_HEARTBEAT_MS) {
          out.write(': still here\n\n');
          lastWrite = Date.now();
        }
      } catch (error) {
        request.log.warn(
          { err: (error as Error).message, issueId: id },
          'console events: reading counts failed',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, EVENT_POLL_MS));
    }
    out.end();
  });

  app.post<{ Params: { id: string } }>('/issues/:id/test', async (request, reply) => {
    const session = sessionOf(request);
    const to = (field(request.body, 'to') ?? '').trim() || session.editor.email;
    return act(request, reply, 'test', async (id) => {
      const { TestSendService } = await import('../../issues/issues.test-send.ts');
      const { createTransport } = await import('../../transports/transport.factory.ts');
      const transport = createTransport(config);
      try {
        await new TestSendService(deps.db, config, transport).send(String(id), to);
      } finally {
        await transport.close();
      }
      return { to };
    });
  });

  app.post<{ Params: { id: string } }>('/issues/:id/schedule', async (request, reply) =>
    act(request, reply, 'schedule', async (id) => {
      const at = withZone(field(request.body, 'at') ?? '', config.TZ);
      await issues.schedule(String(id), at);
      return { at };
    }),
  );

  app.post<{ Params: { id: string } }>('/issues/:id/send', async (request, reply) =>
    act(request, reply, 'send', async (id) => {
      const typed = (field(request.body, 'confirm') ?? '').trim();
      const expected = await issues.recipientCount(id);
      if (typed !== String(expected)) {
        const { invalid } = await import('../../core/errors.ts');
        throw invalid(
          'console.send_not_confirmed',
          consoleContext(request, config).lang === 'zh-CN'
            ? `请输入读者人数 ${expected} 以确认发送。`
            : `type the number of readers, ${expected}, to confirm the send`,
        );
      }
      const { enqueued } = await issues.send(String(id));
      return { enqueued };
    }),
  );

  for (const verb of ['pause', 'resume', 'cancel'] as const) {
    app.post<{ Params: { id: string } }>(`/issues/:id/${verb}`, async (request, reply) =>
      act(request, reply, verb, async (id) => {
        await issues[verb](String(id));
        return {};
      }),
    );
  }

  /** Runs one action on an issue: audit row on success, the issue page with the error otherwise. */
  async function act(
    request: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
    verb: string,
    run: (id: number) => Promise<Record<string, unknown>>,
  ): Promise<FastifyReply> {
    const id = parseId(request.params.id);
    if (id === undefined)
      return errorPage(request, reply, config, 404, consoleContext(request, config).t.notFound);
    try {
      const detail = await run(id);
      await editors.audit({ editor: sessionOf(request).editor }, `issue.${verb}`, 'issue', id, detail);
      return seeOther(reply, `/console/issues/${id}?done=${verb}`);
    } catch (error) {
      if (!isAppError(error)) throw error;
      return issuePage(request, reply, error.status, error.message);
    }
  }
}

/** The digest of a form: the pasted text, or the uploaded file when one was sent. */
function digestText(body: unknown): string {
  const file = body && typeof body === 'object' ? (body as Record<string, unknown>).file : undefined;
  if (Buffer.isBuffer(file) && file.length > 0) return file.toString('utf8');
  return field(body, 'markdown') ?? '';
}

/**
 * A `datetime-local` value has no zone: read it in TZ, as the page says. Anything with a zone (or a
 * typed ISO time) is taken as it is.
 */
export function withZone(value: string, timeZone: string): string {
  const text = value.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(text)) return text;
  const guess = new Date(`${text}Z`);
  const offsetMinutes = zoneOffsetMinutes(guess, timeZone);
  const local = new Date(guess.getTime() - offsetMinutes * 60_000);
  const corrected = zoneOffsetMinutes(local, timeZone);
  const sign = corrected < 0 ? '-' : '+';
  const abs = Math.abs(corrected);
  return `${text.length === 16 ? `${text}:00` : text}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

function zoneOffsetMinutes(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })
    .formatToParts(at)
    .find((p) => p.type === 'timeZoneName')?.value;
  const match = /GMT([+-])(\d{2}):?(\d{2})?/.exec(parts ?? '');
  if (!match) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3] ?? 0);
  return match[1] === '-' ? -minutes : minutes;
}

/**
 * A rendered email for the preview frames. Its own CSP allows the mail's inline styles and images
 * but no script at all, and `sandbox` (here and on the iframe) gives it no origin, no forms, no
 * navigation: a digest with `<script>` or `javascript:` links runs nothing. `scheme=dark` turns the
 * mail's `prefers-color-scheme: dark` rules on, `light` off, whatever the editor's own system uses.
 */
function sendFrame(reply: FastifyReply, html: string, scheme: string | undefined): FastifyReply {
  const dark = scheme === 'dark';
  const body = html.replace(
    /\(\s*prefers-color-scheme\s*:\s*dark\s*\)/gi,
    dark ? '(min-width: 0px)' : '(max-width: 0px)',
  );
  return reply
    .code(200)
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; sandbox; frame-ancestors 'self'",
    )
    .header('x-frame-options', 'SAMEORIGIN')
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(body);
}

function previewJson(ctx: ConsoleContext, p: PreviewSummary) {
  return {
    frame: `/console/previews/${p.id}`,
    from: p.from,
    subject: p.subject,
    preheader: p.preheader,
    items: p.items,
    size: sizeText(ctx, p.htmlBytes),
    warnings: p.warnings,
    noWarnings: ctx.t.noWarnings,
  };
}

function sizeText(ctx: ConsoleContext, bytes: number): string {
  const kb = (bytes / 1024).toFixed(1);
  return bytes > CLIP_BYTES * 0.8 ? `${kb} KB — ${ctx.t.clipWarning}` : `${kb} KB`;
}

function frames(ctx: ConsoleContext, base: string | undefined): Html {
  const { t } = ctx;
  const frame = (kind: 'desktop' | 'phone', scheme: 'light' | 'dark') =>
    html`<div class="frame ${kind}"><figure><figcaption>${kind === 'desktop' ? t.desktop : t.phone}, ${
      scheme === 'light' ? t.previewLight : t.previewDark
    }</figcaption><iframe sandbox title="${t.preview}: ${kind}, ${scheme}" data-scheme="${scheme}" referrerpolicy="no-referrer"${
      base ? html` src="${base}?scheme=${scheme}"` : ''
    }></iframe></figure></div>`;
  return html`<div class="frames">${frame('desktop', 'light')}${frame('phone', 'light')}${frame('desktop', 'dark')}${frame('phone', 'dark')}</div>
<p class="hint">${t.previewHint}</p>`;
}

function previewFacts(ctx: ConsoleContext, p: PreviewSummary | undefined): Html {
  const { t } = ctx;
  return html`<div class="inbox" aria-label="${t.inbox}"><div class="muted" id="pv-from">${p?.from ?? ''}</div>
<div class="subject" id="pv-subject">${p?.subject ?? ''}</div><div class="pre" id="pv-preheader">${p?.preheader ?? ''}</div></div>
<dl class="facts"><dt>${t.items}</dt><dd id="pv-items">${p ? p.items : ''}</dd><dt>${t.htmlSize}</dt><dd id="pv-size">${
    p ? sizeText(ctx, p.htmlBytes) : ''
  }</dd></dl>
<h3>${t.warnings}</h3><p id="pv-nowarnings" class="muted">${p && p.warnings.length === 0 ? t.noWarnings : ''}</p>
<ul id="pv-warnings" class="warn">${(p?.warnings ?? []).map((w) => html`<li>${w}</li>`)}</ul>`;
}

function newIssueForm(
  ctx: ConsoleContext,
  lists: { slug: string; name: string }[],
  form: { markdown: string; list?: string; error?: string; preview?: PreviewSummary },
): Html {
  const { t } = ctx;
  return html`${flash(ctx, undefined, form.error)}
<p class="error" id="preview-error" role="alert" hidden></p>
<div class="editor">
<section class="card">
<form id="issue-form" method="post" action="/console/issues" enctype="multipart/form-data" accept-charset="utf-8">${csrfField(ctx)}
<div class="field"><label for="list">${t.list}</label><select id="list" name="list" required>${lists.map(
    (l) =>
      html`<option value="${l.slug}"${l.slug === form.list ? html` selected` : ''}>${l.name} (${l.slug})</option>`,
  )}</select></div>
<div class="field"><label for="markdown">${t.markdown}</label>
<textarea id="markdown" name="markdown" spellcheck="false" aria-describedby="markdown-hint">${form.markdown}</textarea>
<p class="hint" id="markdown-hint">${t.markdownHint}</p></div>
<div class="field"><label for="file">${t.orUpload}</label><input type="file" id="file" name="file" accept=".md,.markdown,text/markdown,text/plain"></div>
<div class="actions"><button type="submit" formaction="/console/preview" class="quiet">${t.preview}</button><button type="submit">${t.create}</button></div>
</form>
</section>
<section class="card" aria-label="${t.preview}"><h2>${t.preview}</h2>
${previewFacts(ctx, form.preview)}
</section>
</div>
<section class="card"><h2>${t.preview}</h2>${frames(ctx, form.preview ? `/console/previews/${form.preview.id}` : undefined)}</section>`;
}

function clicksSection(ctx: ConsoleContext, r: ClickReport): Html {
  const { t } = ctx;
  const share = (n: number) => (r.delivered > 0 ? `${((100 * n) / r.delivered).toFixed(1)} %` : '–');
  return html`<section class="card" id="clicks"><h2>${t.clicksTitle}</h2><p>${t.clicksSummary(r.human, r.delivered, r.scanner)}</p>
<div class="table-wrap"><table><thead><tr><th>#</th><th>${t.story}</th><th class="num">${t.readers}</th><th class="num">${t.share}</th><th class="num">${t.scanners}</th></tr></thead><tbody>${r.links.map(
    (l) =>
      html`<tr><td>${l.position}</td><td>${l.title} <span class="muted">${l.domain}</span></td><td class="num" data-clicks="${l.position}">${l.human}</td><td class="num">${share(l.human)}</td><td class="num">${l.scanner}</td></tr>`,
  )}</tbody></table></div></section>`;
}

function issueBody(
  ctx: ConsoleContext,
  timeZone: string,
  report: IssueStatusReport,
  recipients: number | undefined,
  editorEmail: string,
  done: string | undefined,
  error: string | undefined,
  clickReport?: ClickReport,
): Html {
  const { t } = ctx;
  const { issue, counts } = report;
  const finished =
    counts.sent +
    counts.delivered +
    counts.failed +
    counts.bounced +
    counts.complained +
    counts.suppressed +
    counts.unsubscribed;
  const canSend = issue.status === 'draft' || issue.status === 'scheduled';
  const actions: Html[] = [];
  if (canSend) {
    actions.push(html`<section class="card"><h2>${t.send}</h2>
<form method="post" action="/console/issues/${issue.id}/send">${csrfField(ctx)}
<p id="send-hint">${t.sendConfirm(recipients ?? 0)}</p>
<div class="inline"><div class="field"><label for="confirm">${t.sendConfirmLabel}</label>
<input type="text" inputmode="numeric" id="confirm" name="confirm" autocomplete="off" required aria-describedby="send-hint"></div>
<button type="submit">${t.send}</button></div></form></section>
<section class="card"><h2>${t.schedule}</h2>
<form method="post" action="/console/issues/${issue.id}/schedule">${csrfField(ctx)}
<div class="inline"><div class="field"><label for="at">${t.scheduleAt(timeZone)}</label>
<input type="datetime-local" id="at" name="at" required></div><button type="submit">${t.schedule}</button></div></form></section>`);
  }
  const buttons: Html[] = [];
  if (issue.status === 'scheduled' || issue.status === 'sending')
    buttons.push(postButton(ctx, `/console/issues/${issue.id}/pause`, t.pause, { className: 'quiet' }));
  if (issue.status === 'paused')
    buttons.push(postButton(ctx, `/console/issues/${issue.id}/resume`, t.resume));
  if (issue.status !== 'sent' && issue.status !== 'cancelled')
    buttons.push(postButton(ctx, `/console/issues/${issue.id}/cancel`, t.cancel, { className: 'danger' }));
  return html`${flash(ctx, done, error)}
<section class="card" ${issue.status === 'sending' ? html`data-events="/console/issues/${issue.id}/events" data-status="${issue.status}"` : ''}>
<dl class="facts"><dt>#</dt><dd>${issue.id}</dd><dt>${t.list}</dt><dd>${issue.listName} (${issue.listSlug})</dd>
<dt>${t.subject}</dt><dd>${issue.subject}</dd><dt>${t.statusLabel}</dt><dd>${statusBadge(ctx, issue.status)}</dd>
${issue.sendAt ? html`<dt>${t.when}</dt><dd>${formatTime(issue.sendAt, timeZone, ctx.lang)}</dd>` : ''}
${issue.pauseReason ? html`<dt>${t.pauseReason}</dt><dd class="warn">${issue.pauseReason}</dd>` : ''}</dl>
${counts.total > 0 ? html`<p><label for="progress">${t.progress}</label><progress id="progress" max="${Math.max(1, counts.total)}" value="${finished}"></progress></p>` : ''}
<div class="counts">${COUNT_KEYS.map((k) => html`<div><b data-count="${k}">${counts[k]}</b><span>${t.counts[k]}</span></div>`)}</div>
${buttons.length ? html`<div class="actions spaced">${buttons}</div>` : ''}
</section>
${actions}
${clickReport && (issue.listTrackClicks || clickReport.links.some((l) => l.human + l.scanner > 0)) ? clicksSection(ctx, clickReport) : ''}
<section class="card"><h2>${t.sendTest}</h2>
<form method="post" action="/console/issues/${issue.id}/test">${csrfField(ctx)}
<div class="inline"><div class="field"><label for="to">${t.testTo}</label><input type="text" id="to" name="to" value="${editorEmail}" autocomplete="email" aria-describedby="test-hint"></div>
<button type="submit">${t.sendTest}</button></div><p class="hint" id="test-hint">${t.testHint}</p></form></section>
<section class="card"><h2>${t.preview}</h2>${frames(ctx, `/console/issues/${issue.id}/frame`)}</section>`;
}
