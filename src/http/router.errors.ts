import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.loader.ts';
import { pageContext, sendPage } from './http.context.ts';
import { messages } from './i18n.ts';
import { messagePage } from './pages.ts';

/**
 * Errors raised before a request reaches a route — a URL that does not decode (`/%E0%A4%A`), a path
 * parameter over `maxParamLength` (414), a request line or headers over Node's limit (431) — skip
 * every hook, so helmet's headers were missing and Fastify answered JSON echoing the path. These
 * handlers give them the same security headers and the same plain page as every other error.
 *
 * The headers are taken from what the app itself answers (a 404 of its own), so they can never
 * drift from helmet's configuration: captured once the app listens, or at the first such error.
 */
export class RouterErrors {
  private securityHeaders: Record<string, string> | undefined;

  constructor(
    private readonly app: () => FastifyInstance,
    private readonly config: Config,
  ) {}

  /** Fastify's `frameworkErrors`: FST_ERR_BAD_URL, FST_ERR_MAX_PARAM_LENGTH and kin. */
  readonly frameworkErrors = (
    error: { code?: string; statusCode?: number },
    request: FastifyRequest,
    reply: FastifyReply,
  ): void => {
    const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : (error.statusCode ?? 400);
    void this.headers().then((headers) => {
      // The path is neither decodable nor short: the page never puts it back anywhere.
      const ctx = { ...pageContext(request, this.config), path: '/' };
      const t = messages(ctx.lang);
      reply.headers(headers);
      sendPage(reply, status, messagePage(ctx, t.errorTitle, [status === 414 ? t.tooLarge : t.notFoundBody]));
    });
  };

  /**
   * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses (431 for headers or a request
   * line over its limit, 400 for a malformed request). Written straight to the socket, as there is
   * no request object; English, as the headers that would say otherwise were not read.
   */
  readonly clientErrorHandler = (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (!socket.writable) return;
    const [status, reason] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'Bad Request'];
    const ctx = {
      lang: 'en' as const,
      path: '/',
      orgName: this.config.ORG_NAME,
      postalAddress: this.config.POSTAL_ADDRESS,
    };
    const t = messages('en');
    const said =
      status === 408 ? 'The request took too long to arrive.' : status === 400 ? t.notFoundBody : t.tooLarge;
    const body = Buffer.from(messagePage(ctx, t.errorTitle, [said]));
    const head = {
      ...(this.securityHeaders ?? {}),
      'content-type': 'text/html; charset=utf-8',
      'content-length': String(body.length),
      'cache-control': 'no-store',
      connection: 'close',
    };
    const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}`);
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n${lines.join('\r\n')}\r\n\r\n${body.toString('latin1')}`,
      'latin1',
    );
  };

  /** Reads the app's own security headers once (call when it listens, so the 431 path has them). */
  async headers(): Promise<Record<string, string>> {
    if (this.securityHeaders) return this.securityHeaders;
    const res = await this.app().inject({ method: 'GET', url: '/.well-known/digestmail-never-a-route' });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined || !SECURITY_HEADER.test(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    this.securityHeaders = headers;
    return headers;
  }
}

/** Node's parser and timeout errors, as the status a client is told. */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  HPE_URI_TOO_LONG: [414, 'URI Too Long'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

/** Response headers that are about security (helmet's set), not about one response's content. */
const SECURITY_HEADER =
  /^(content-security-policy|cross-origin-[a-z-]+|origin-agent-cluster|referrer-policy|strict-transport-security|x-content-type-options|x-dns-prefetch-control|x-download-options|x-frame-options|x-permitted-cross-domain-policies|x-xss-protection|permissions-policy)$/;
