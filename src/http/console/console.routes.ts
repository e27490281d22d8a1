import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { EditorsService } from '../../editors/editors.service.ts';
import type { AppDeps } from '../http.context.ts';
import { ASSETS } from './console.assets.ts';
import { ConsoleCsrf, errorPage, field, SESSION_COOKIE, seeOther } from './console.context.ts';
import { consoleText } from './console.i18n.ts';
import { type AuthDeps, consoleAuthRoutes, signOutHandler } from './auth.routes.ts';
import { consoleIssueRoutes } from './issues.routes.ts';
import { consoleAdminRoutes } from './admin.routes.ts';
import { consolePeopleRoutes } from './people.routes.ts';
import { CONSOLE_UPLOAD_LIMIT } from './console.limits.ts';
import { langOf } from '../http.context.ts';

export interface ConsoleDeps extends AppDeps {
  mailSignInLink: AuthDeps['mailSignInLink'];
}

/**
 * The editor console under `/console/`. Three scopes: static assets and the sign-in pages (no
 * session needed), and everything else behind one guard that finds the session (or sends the
 * browser to the sign-in page, never any data) and checks the CSRF token of every POST.
 */
export async function consoleRoutes(
  app: FastifyInstance,
  options: ConsoleDeps & { prefix?: string },
): Promise<void> {
  // The prefix applies to this scope; handing it on would nest it again in every child.
  const { prefix: _prefix, ...deps } = options;
  const csrf = new ConsoleCsrf(deps.config.SECRET_KEY);
  const editors = new EditorsService(deps.db);
  const idleSeconds = deps.config.CONSOLE_IDLE_HOURS * 3600;

  // Forms with files (a digest, a CSV) are multipart; only the console takes files at all.
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: {
      fieldNameSize: 100,
      fieldSize: 4 * 1024 * 1024,
      fields: 50,
      files: 1,
      fileSize: CONSOLE_UPLOAD_LIMIT,
      parts: 60,
    },
  });

  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
    const asset = ASSETS[request.params.name.replace(/\?.*$/, '')];
    if (!asset) return errorPage(request, reply, deps.config, 404, consoleText(langOf(request)).notFound);
    reply.header('etag', asset.etag).header('cache-control', 'public, max-age=86400');
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  });

  await app.register(consoleAuthRoutes, { ...deps, csrf });

  await app.register(async (guarded) => {
    guarded.decorateRequest('consoleSession', null);
    guarded.addHook('preHandler', async (request, reply) => {
      const sessionId = request.cookies[SESSION_COOKIE];
      const editor = await editors.session(sessionId, { idleSeconds });
      if (!editor || !sessionId) {
        // No session, no data: the sign-in page, for GETs and POSTs alike.
        const lang = langOf(request);
        return seeOther(reply, `/console/login${lang === 'en' ? '' : `?lang=${lang}`}`);
      }
      request.consoleSession = { editor, sessionId, csrf: csrf.tokenFor(sessionId) };
      if (request.method === 'POST' && !csrf.check(sessionId, field(request.body, '_csrf'))) {
        request.log.info({ code: 'console.csrf' }, 'refused');
        return errorPage(request, reply, deps.config, 403, consoleText(langOf(request)).error);
      }
    });
    guarded.post('/logout', signOutHandler(deps));
    await guarded.register(consoleIssueRoutes, deps);
    await guarded.register(consolePeopleRoutes, deps);
    await guarded.register(consoleAdminRoutes, deps);
  });
}
