import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EditorsService } from '../../editors/editors.service.ts';
import { RateLimitService } from '../../subscriptions/rate-limit.service.ts';
import type { AppDeps } from '../http.context.ts';
import { type ConsoleContext, consolePage, csrfField, html } from './console.layout.ts';
import {
  type ConsoleCsrf,
  consoleContext,
  field,
  SESSION_COOKIE,
  seeOther,
  sendConsolePage,
} from './console.context.ts';
import { SESSION_ABSOLUTE_SECONDS } from '../../editors/editors.service.ts';

/** Sign-in requests per client address per 10 minutes, and per address asked for per hour. */
const LIMIT_PER_IP = 20;
const LIMIT_PER_ADDRESS = 5;

export interface AuthDeps extends AppDeps {
  /** Queues the mail that carries a sign-in link (the outbox sends it). */
  mailSignInLink(to: string, url: string, lang: string): Promise<void>;
  csrf: ConsoleCsrf;
}

function loginForm(ctx: ConsoleContext): string {
  const { t } = ctx;
  return consolePage(
    ctx,
    t.loginTitle,
    html`<div class="card login">
<p>${t.loginIntro}</p>
<form method="post" action="/console/login" accept-charset="utf-8">${csrfField(ctx)}
<input type="hidden" name="lang" value="${ctx.lang}">
<div class="field"><label for="email">${t.email}</label>
<input type="email" id="email" name="email" required maxlength="254" autocomplete="email" inputmode="email"></div>
<button type="submit">${t.sendLink}</button>
</form></div>`,
  );
}

/**
 * The answer to every sign-in request, known address or not: no token, no address, nothing that
 * differs, so the page cannot tell who is an editor.
 */
function sentPage(ctx: ConsoleContext): string {
  const { t } = ctx;
  return consolePage(
    ctx,
    t.loginSentTitle,
    html`<div class="card login"><p>${t.loginSentBody}</p><p><a href="/console/login?lang=${ctx.lang}">${t.loginAgain}</a></p></div>`,
  );
}

/**
 * Sign-in without passwords: a form that mails a one-time link, the link's page with a button (mail
 * scanners open links, so only the POST signs in), and sign-out. These routes need no session.
 */
export async function consoleAuthRoutes(app: FastifyInstance, deps: AuthDeps): Promise<void> {
  const editors = new EditorsService(deps.db);
  const limits = new RateLimitService(deps.db);
  const https = deps.config.PUBLIC_URL.startsWith('https:');
  const limitKey = (kind: string, value: string) =>
    createHmac('sha256', deps.config.SECRET_KEY).update(`console-login:${kind}:${value}`).digest('base64url');

  app.get('/login', async (request, reply) => {
    return sendConsolePage(reply, 200, loginForm(consoleContext(request, deps.config, reply.generateCsrf())));
  });

  app.post('/login', { preHandler: app.csrfProtection }, async (request, reply) => {
    const ctx = consoleContext(request, deps.config);
    const email = (field(request.body, 'email') ?? '').trim().toLowerCase().slice(0, 254);
    const [perIp, perAddress] = await limits.hit([
      { key: limitKey('ip', request.ip ?? ''), windowSeconds: 600 },
      { key: limitKey('address', email), windowSeconds: 3600 },
    ]);
    if ((perIp ?? 0) > LIMIT_PER_IP || (perAddress ?? 0) > LIMIT_PER_ADDRESS) {
      return sendConsolePage(
        reply.header('retry-after', '600'),
        429,
        consolePage(ctx, ctx.t.tooManyTitle, html`<div class="card login"><p>${ctx.t.tooManyBody}</p></div>`),
      );
    }
    const link = await editors.signInLink(email, deps.config.PUBLIC_URL);
    if (link) await deps.mailSignInLink(link.editor.email, link.url, ctx.lang);
    return sendConsolePage(reply, 200, sentPage(ctx));
  });

  app.get<{ Params: { token: string } }>('/login/:token', async (request, reply) => {
    const ctx = consoleContext(request, deps.config, reply.generateCsrf());
    const { t } = ctx;
    if (!(await editors.signInLinkUsable(request.params.token))) {
      return sendConsolePage(reply, 400, linkUsedPage(ctx));
    }
    return sendConsolePage(
      reply,
      200,
      consolePage(
        ctx,
        t.signInTitle,
        html`<div class="card login"><p>${t.signInBody}</p>
<form method="post" action="/console/login/${request.params.token}">${csrfField(ctx)}<button type="submit">${t.signIn}</button></form></div>`,
      ),
    );
  });

  app.post<{ Params: { token: string } }>(
    '/login/:token',
    { preHandler: app.csrfProtection },
    async (request, reply) => {
      const signedIn = await editors.signIn(request.params.token);
      if (!signedIn) return sendConsolePage(reply, 400, linkUsedPage(consoleContext(request, deps.config)));
      reply.setCookie(SESSION_COOKIE, signedIn.sessionId, {
        path: '/console',
        httpOnly: true,
        sameSite: 'strict',
        secure: https,
        maxAge: SESSION_ABSOLUTE_SECONDS,
      });
      return seeOther(reply, '/console/');
    },
  );
}

function linkUsedPage(ctx: ConsoleContext): string {
  const { t } = ctx;
  return consolePage(
    ctx,
    t.linkUsedTitle,
    html`<div class="card login"><p>${t.linkUsedBody}</p><p><a href="/console/login?lang=${ctx.lang}">${t.loginAgain}</a></p></div>`,
  );
}

/** Sign-out ends the session in the database (not only the cookie), then shows the sign-in page. */
export function signOutHandler(deps: AppDeps) {
  const editors = new EditorsService(deps.db);
  const https = deps.config.PUBLIC_URL.startsWith('https:');
  return async (request: FastifyRequest, reply: FastifyReply) => {
    await editors.signOut(request.consoleSession?.sessionId);
    reply.clearCookie(SESSION_COOKIE, {
      path: '/console',
      httpOnly: true,
      sameSite: 'strict',
      secure: https,
    });
    return seeOther(reply, '/console/login');
  };
}
