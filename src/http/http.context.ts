import type {} from '@fastify/csrf-protection';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Config } from '../config/config.loader.ts';
import type { Database } from '../db/db.types.ts';
import type { ConfirmationHandOff } from '../subscriptions/signup.service.ts';
import { TokenSigner } from '../core/tokens.ts';
import { type Lang, pickLang } from './i18n.ts';
import type { PageContext } from './pages.ts';

/** What every route module is given: settings and the database. Each builds the services it uses. */
export interface AppDeps {
  config: Config;
  db: Kysely<Database>;
  /** One signer for the whole app (it caches its derived keys). */
  signer?: TokenSigner;
  /** Called when a request queued mail, so a sender in this process can send it at once. */
  onMailQueued?: () => void;
  /**
   * A sender in this process that takes a signup's confirmation mail straight from the request
   * (serve's outbox sender): signups write it leased to this process (see SignupService).
   */
  confirmationHandOff?: ConfirmationHandOff;
  /** Where the request logs go (stdout when omitted). */
  logStream?: { write(line: string): void };
}

export function signerOf(deps: AppDeps): TokenSigner {
  return deps.signer ?? new TokenSigner(deps.config.SECRET_KEY);
}

/** The page language: the form's own `lang` field, then `?lang=`, then Accept-Language. */
export function langOf(request: FastifyRequest): Lang {
  const fromBody = field(request.body, 'lang');
  const query = (request.query as Record<string, unknown> | undefined)?.lang;
  return pickLang(fromBody ?? query, request.headers['accept-language']);
}

export function pageContext(request: FastifyRequest, config: Config, lang = langOf(request)): PageContext {
  return {
    lang,
    path: localPath(request.url),
    orgName: config.ORG_NAME,
    postalAddress: config.POSTAL_ADDRESS,
  };
}

/**
 * The request's path, safe to put back in a link or a form action on the same site: `//host` or
 * `/\\host` would otherwise be read by a browser as another site.
 */
function localPath(url: string): string {
  const path = url.split(/[?#]/)[0] ?? '/';
  return `/${path.replace(/^[/\\]+/, '').replace(/\\/g, '/')}`;
}

/** Pages carry tokens and CSRF values: never cached, never indexed. */
export function sendPage(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body);
}

/** One value of a form field (urlencoded or multipart), or undefined. Repeated fields: the first. */
export function field(body: unknown, name: string): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const value = (body as Record<string, unknown>)[name];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : undefined;
}

/** Every value of a repeated form field (checkboxes). */
export function fields(body: unknown, name: string): string[] {
  if (body === null || typeof body !== 'object') return [];
  const value = (body as Record<string, unknown>)[name];
  const all = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return all.filter((v): v is string => typeof v === 'string');
}

const MAX_ID = 2_147_483_647;

/** A row id from a URL or form (the id columns are PostgreSQL integers), or undefined. */
export function parseId(value: string): number | undefined {
  if (!/^[1-9][0-9]{0,9}$/.test(value)) return undefined;
  const id = Number(value);
  return id <= MAX_ID ? id : undefined;
}

/** Checkbox values that must be ids; anything else is reported, not ignored. */
export function ids(values: string[]): number[] | undefined {
  const out: number[] = [];
  for (const v of values) {
    const id = parseId(v);
    if (id === undefined) return undefined;
    out.push(id);
  }
  return out;
}

/** Request paths with their token replaced, for logs: a token is a key to someone's subscription. */
export function redactUrl(url: string): string {
  return url.replace(/\/(confirm|unsubscribe|preferences|c)\/[^/?#]+/g, '/$1/:token');
}
