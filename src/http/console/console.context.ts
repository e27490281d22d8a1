import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/config.loader.ts';
import type { SessionEditor } from '../../editors/editors.service.ts';
import { field, langOf, sendPage } from '../http.context.ts';
import { type ConsoleContext, consolePage, html } from './console.layout.ts';
import { consoleText } from './console.i18n.ts';

export const SESSION_COOKIE = 'dm_console';

/**
 * The console's own CSP: scripts and styles only from files of this site (no inline code), frames
 * only from this site (the preview), nothing framing the console.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** What a signed-in request carries through the console's routes. */
export interface ConsoleSession {
  editor: SessionEditor;
  sessionId: string;
  csrf: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession: ConsoleSession | null;
  }
}

/**
 * CSRF for signed-in editors: an HMAC of the session's secret, so it needs no storage, changes with
 * each session, and a page of one session cannot post for another. SameSite=Strict on the session
 * cookie already stops cross-site posts; this is the second lock the house rules ask for.
 */
export class ConsoleCsrf {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHmac('sha256', secret).update('digestmail/console-csrf').digest();
  }

  tokenFor(sessionId: string): string {
    return createHmac('sha256', this.key).update(sessionId).digest('base64url');
  }

  check(sessionId: string, given: string | undefined): boolean {
    if (!given) return false;
    const expected = Buffer.from(this.tokenFor(sessionId));
    const actual = Buffer.from(given);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }
}

export function consoleContext(request: FastifyRequest, config: Config, csrf = ''): ConsoleContext {
  const lang = langOf(request);
  const session = request.consoleSession;
  return {
    lang,
    t: consoleText(lang),
    path: (request.url.split(/[?#]/)[0] ?? '/console/').replace(/^\/+/, '/'),
    orgName: config.ORG_NAME,
    ...(session ? { viewer: { email: session.editor.email, role: session.editor.role } } : {}),
    csrf: session?.csrf ?? csrf,
  };
}

/** The session of this request; the guard has made sure there is one on every protected route. */
export function sessionOf(request: FastifyRequest): ConsoleSession {
  if (!request.consoleSession) throw new Error('console route reached without a session');
  return request.consoleSession;
}

/** Console pages are private and change with every action: never cached anywhere. */
export function sendConsolePage(reply: FastifyReply, status: number, body: string): FastifyReply {
  reply.header('content-security-policy', CONSOLE_CSP);
  return sendPage(reply, status, body);
}

/** After a POST: back to a page with a notice, so a reload does not post again. */
export function seeOther(reply: FastifyReply, location: string): FastifyReply {
  return reply.code(303).header('location', location).header('cache-control', 'no-store').send();
}

export function errorPage(
  request: FastifyRequest,
  reply: FastifyReply,
  config: Config,
  status: number,
  message: string,
): FastifyReply {
  const ctx = consoleContext(request, config);
  return sendConsolePage(
    reply,
    status,
    consolePage(
      ctx,
      status === 404 ? ctx.t.notFound : ctx.t.error,
      html`<p class="error" role="alert">${message}</p>`,
    ),
  );
}

export { field };
