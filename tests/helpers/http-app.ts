import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type Config, loadConfig } from '../../src/config/config.loader.ts';
import { buildApp } from '../../src/http/app.ts';
import { TokenSigner } from '../../src/core/tokens.ts';
import type { TestDatabase } from './test-db.ts';

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    SECRET_KEY: TEST_SECRET,
    LOG_LEVEL: 'silent',
    PUBLIC_URL: 'http://127.0.0.1:3000',
    ...overrides,
  });
}

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  signer: TokenSigner;
}

export async function startTestApp(
  db: TestDatabase,
  overrides: Record<string, string> = {},
): Promise<TestApp> {
  const config = testConfig(overrides);
  const signer = new TokenSigner(config.SECRET_KEY);
  const app = await buildApp({ config, db: db.db, signer });
  await app.ready();
  return { app, config, signer };
}

/** A browser's view of one page: the cookie it was given and the CSRF token in its form. */
export interface FormSession {
  cookie: string;
  csrf: string;
  page: LightMyRequestResponse;
}

export async function openForm(
  app: FastifyInstance,
  url: string,
  headers: Record<string, string> = {},
): Promise<FormSession> {
  const page = await app.inject({ method: 'GET', url, headers });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  const setCookie = page.headers['set-cookie'];
  const cookies = (Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []).map(
    (c) => c.split(';')[0],
  );
  if (!csrf || cookies.length === 0) throw new Error(`no form at ${url} (status ${page.statusCode})`);
  return { cookie: cookies.join('; '), csrf, page };
}

/** An urlencoded POST; array values become repeated fields. */
export function postForm(
  app: FastifyInstance,
  url: string,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) body.append(key, v);
  }
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: body.toString(),
  });
}
