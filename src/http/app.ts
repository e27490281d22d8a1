import { createHmac, randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { isAppError } from '../core/errors.ts';
import { maskingLogHooks } from '../core/secrets.text.ts';
import { TokenSigner } from '../core/tokens.ts';
import { webArchiveRoutes } from './web-archive.routes.ts';
import { SystemMailService } from '../subscriptions/system-mail.service.ts';
import { clickRoutes } from './clicks.routes.ts';
import { confirmRoutes } from './confirm.routes.ts';
import { consoleRoutes } from './console/console.routes.ts';
import { healthRoutes } from './health.routes.ts';
import { type AppDeps, field, pageContext, redactUrl, sendPage } from './http.context.ts';
import { messages } from './i18n.ts';
import { metricsRoutes } from './metrics.routes.ts';
import { answeredAsOutage, registerOutageHandling } from './outage.hooks.ts';
import { linkInvalidPage, messagePage, STYLE_HASH } from './pages.ts';
import { preferencesRoutes } from './preferences.routes.ts';
import { RouterErrors } from './router.errors.ts';
import { securityHeaders } from './security.headers.ts';
import { signupRoutes } from './signup.routes.ts';
import { unsubscribeRoutes } from './unsubscribe.routes.ts';
import { webhookRoutes } from './webhooks.routes.ts';

export type { AppDeps } from './http.context.ts';

/** Forms are small; a route that takes more (a webhook) sets its own `bodyLimit`. */
export const BODY_LIMIT = 32 * 1024;

/**
 * The web app: a thin composition of route modules (`*.routes.ts`), each registered with one line.
 * Security defaults live here: helmet headers with a strict CSP, CSRF (double-submit cookie) for the
 * human forms, small body limits, request ids, logs without addresses or link tokens. Parsers:
 * urlencoded and multipart forms (RFC 8058 allows both), JSON, and text/plain (SNS posts JSON as
 * text/plain), all bounded by the body limit of the app or of the route.
 */
export interface AppSurfaces {
  /** The reader pages, archive, webhooks and metrics (default true). */
  public?: boolean;
  /** The editor console under /console/ (default: the CONSOLE setting). */
  console?: boolean;
}

export async function buildApp(deps: AppDeps, surfaces: AppSurfaces = {}): Promise<FastifyInstance> {
  const { config } = deps;
  const withPublic = surfaces.public ?? true;
  const withConsole = surfaces.console ?? config.CONSOLE;
  const https = config.PUBLIC_URL.startsWith('https:');
  const routeDeps: AppDeps = { ...deps, signer: deps.signer ?? new TokenSigner(config.SECRET_KEY) };

  let built: FastifyInstance | undefined;
  const routerErrors = new RouterErrors(() => built!, config);
  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      hooks: maskingLogHooks,
      ...(deps.logStream ? { stream: deps.logStream } : {}),
      serializers: {
        // No client address, no token: only what is needed to follow a request.
        req: (request: FastifyRequest) => ({ method: request.method, url: redactUrl(request.url) }),
      },
    },
    genReqId: () => randomUUID(),
    logController: new OneLinePerRequest(),
    trustProxy: typeof config.TRUST_PROXY === 'number' ? trustHops(config.TRUST_PROXY) : config.TRUST_PROXY,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 2048 },
    return503OnClosing: true,
    // A client that sends its headers or body slowly, or never, must not hold a connection forever.
    requestTimeout: config.HTTP_REQUEST_TIMEOUT * 1000,
    keepAliveTimeout: config.HTTP_KEEPALIVE_TIMEOUT * 1000,
    http: {
      headersTimeout: Math.min(config.HTTP_HEADERS_TIMEOUT, config.HTTP_REQUEST_TIMEOUT) * 1000,
      // Node checks the two timeouts above on this interval (default 30 s, which would double them).
      connectionsCheckingInterval: Math.min(1000, config.HTTP_HEADERS_TIMEOUT * 500),
    },
    // Errors before routing get the same headers and page as any other error (router.errors.ts).
    frameworkErrors: routerErrors.frameworkErrors,
    clientErrorHandler: routerErrors.clientErrorHandler,
  });

  built = app;
  // The 431 answer is written without a request: have the security headers ready once listening.
  app.addHook('onListen', async () => {
    await routerErrors.headers();
  });
  const security = await securityHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'none'"],
        'style-src': [STYLE_HASH],
        'img-src': ["'self'", 'data:'],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        'base-uri': ["'none'"],
        ...(https ? { 'upgrade-insecure-requests': [] } : {}),
      },
    },
    strictTransportSecurity: https ? { maxAge: 31536000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'no-referrer' },
  });
  // A synchronous hook: no promise per request (hooks below are written the same way).
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(security);
    done();
  });
  await app.register(formbody);
  // The multipart parser streams and caps each field, but does not apply the body limit: check the
  // declared length here so a multipart body is held to the same limit as any other.
  app.addHook('onRequest', (request, _reply, done) => {
    if (!isMultipart(request)) return done();
    const length = Number(request.headers['content-length'] ?? 0);
    const limit = request.routeOptions.bodyLimit ?? BODY_LIMIT;
    if (length > limit) return done(tooLarge());
    // A chunked body declares no length, and busboy reads past the last boundary to the end: count
    // what actually arrives, and stop reading at the limit.
    limitBytesReceived(request, limit);
    done();
  });
  await app.register(cookie, {
    secret: createHmac('sha256', config.SECRET_KEY).update('digestmail/cookie').digest('hex'),
  });
  await app.register(csrf, {
    sessionPlugin: '@fastify/cookie',
    cookieOpts: { path: '/', httpOnly: true, sameSite: 'lax', secure: https, signed: true },
    getToken: (request) => field(request.body, '_csrf'),
  });

  registerOutageHandling(app, routeDeps);
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const outage = answeredAsOutage(error, request, reply, routeDeps);
    if (outage) return outage;
    const ctx = pageContext(request, config);
    const t = messages(ctx.lang);
    if (isAppError(error)) {
      if (error.code === 'subscriptions.token_invalid' || error.code === 'subscriptions.token_expired') {
        return sendPage(reply, 400, linkInvalidPage(ctx, error.code === 'subscriptions.token_expired'));
      }
      if (error.code === 'subscriptions.reader_gone') {
        return sendPage(reply, 404, messagePage(ctx, t.readerGoneTitle, [t.readerGoneBody]));
      }
      if (error.code === 'subscriptions.suppressed') {
        return sendPage(reply, 409, messagePage(ctx, t.errorTitle, [t.suppressedBody]));
      }
      request.log.info({ code: error.code }, 'refused');
      return sendPage(reply, error.status, messagePage(ctx, t.errorTitle, [error.message]));
    }
    // A body the multipart parser cannot read (no boundary, cut short) is the sender's mistake.
    const status = error.statusCode ?? (isMultipart(request) ? 400 : 500);
    if (error.code?.startsWith('FST_CSRF')) {
      return sendPage(reply, 403, messagePage(ctx, t.errorTitle, [t.formExpired]));
    }
    if (status === 413 || error.code === 'FST_FILES_LIMIT' || error.code === 'FST_PARTS_LIMIT') {
      return sendPage(reply, 413, messagePage(ctx, t.errorTitle, [t.tooLarge]));
    }
    if (status >= 400 && status < 500) {
      return sendPage(reply, status, messagePage(ctx, t.errorTitle, [error.message]));
    }
    request.log.error({ err: error }, 'request failed');
    return sendPage(reply, 500, messagePage(ctx, t.errorTitle, [t.serverError]));
  });
  app.setNotFoundHandler((request, reply) => {
    const ctx = pageContext(request, config);
    const t = messages(ctx.lang);
    return sendPage(reply, 404, messagePage(ctx, t.notFoundTitle, [t.notFoundBody]));
  });

  await app.register(healthRoutes, routeDeps);
  if (withPublic) {
    // Multipart is registered per scope: readers' forms take no files, the console takes uploads.
    await app.register(async (reader) => {
      await reader.register(multipart, {
        attachFieldsToBody: 'keyValues',
        limits: { fieldNameSize: 100, fieldSize: 4096, fields: 50, files: 0, parts: 50, headerPairs: 50 },
      });
      await reader.register(signupRoutes, routeDeps);
      await reader.register(confirmRoutes, routeDeps);
      await reader.register(unsubscribeRoutes, routeDeps);
      await reader.register(preferencesRoutes, routeDeps);
      await reader.register(clickRoutes, routeDeps);
      await reader.register(webArchiveRoutes, routeDeps);
      await reader.register(webhookRoutes, routeDeps);
      // Never public: on this port only behind METRICS_TOKEN; with METRICS_PORT, `serve` runs its own listener.
      if (config.METRICS_TOKEN !== undefined && config.METRICS_PORT === undefined) {
        await reader.register(metricsRoutes, { db: deps.db, token: config.METRICS_TOKEN });
      }
    });
  }
  if (withConsole) {
    const systemMail = new SystemMailService(deps.db);
    await app.register(consoleRoutes, {
      ...routeDeps,
      prefix: '/console',
      mailSignInLink: async (to: string, url: string, lang: string) => {
        await systemMail.queueSignInLink(to, url, lang);
        deps.onMailQueued?.();
      },
    });
  }
  return app;
}

/**
 * One log line per request, when it is answered (method, path without tokens, status, time), instead
 * of Fastify's two: at the default level `info`, writing "incoming request" cost as much as many a
 * route's own work. Errors are logged as Fastify logs them.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) super.requestCompleted(error, request, reply);
    else request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** Believe the last `hops` proxies of X-Forwarded-For (the ones in front of us), not what came before them. */
function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

function tooLarge(): Error {
  return Object.assign(new Error('the request body is too large'), { statusCode: 413 });
}

/**
 * Counts the bytes of a multipart body as they arrive (the multipart plugin pipes the raw request
 * into busboy, past any hook that sees a parsed body). The stream is paused first, so attaching the
 * counter does not start the flow before busboy is piped in (which resumes it): every chunk reaches
 * both. Past the limit, the request is unpiped and fails with 413; the rest is never read.
 */
function limitBytesReceived(request: FastifyRequest, limit: number): void {
  const raw = request.raw;
  raw.pause();
  let received = 0;
  const count = (chunk: Buffer) => {
    received += chunk.length;
    if (received <= limit) return;
    raw.off('data', count);
    raw.unpipe();
    raw.pause();
    if (raw.listenerCount('error') > 0) raw.emit('error', tooLarge());
    else raw.destroy();
  };
  raw.on('data', count);
}

function isMultipart(request: { headers: { 'content-type'?: string } }): boolean {
  return /^multipart\//i.test(request.headers['content-type'] ?? '');
}
