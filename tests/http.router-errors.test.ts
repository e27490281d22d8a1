import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.ts';
import { testConfig } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

let database: TestDatabase;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  database = await createTestDatabase('pglite');
  app = await buildApp({ config: testConfig(), db: database.db });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

/** One raw HTTP/1.1 exchange, as a scanner would send it (no client library normalising the URL). */
function exchange(
  request: string,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      raw += d;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = raw.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

const get = (target: string, extra = '') =>
  exchange(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`);

describe('errors raised before routing', () => {
  it('get the same security headers and plain page as a 404, and never echo the path', async () => {
    const notFound = await get('/no-such-page');
    expect(notFound.status).toBe(404);
    const csp = notFound.headers['content-security-policy'];
    expect(csp).toContain("default-src 'none'");

    const cases = [
      { name: 'bad URL encoding', response: await get('/confirm/%E0%A4%A-secret-looking-path'), status: 400 },
      {
        name: 'a parameter over maxParamLength',
        response: await get(`/confirm/${'x'.repeat(3000)}`),
        status: 414,
      },
      {
        name: 'headers over the limit',
        response: await get('/', `X-Big: ${'a'.repeat(20_000)}\r\n`),
        status: 431,
      },
      { name: 'a request line over the limit', response: await get(`/${'b'.repeat(20_000)}`), status: 431 },
    ];
    for (const { name, response, status } of cases) {
      expect(response.status, name).toBe(status);
      expect(response.headers['content-type'], name).toBe('text/html; charset=utf-8');
      expect(response.headers['content-security-policy'], name).toBe(csp);
      expect(response.headers['x-content-type-options'], name).toBe('nosniff');
      expect(response.headers['referrer-policy'], name).toBe('no-referrer');
      expect(response.headers['x-frame-options'], name).toBe(notFound.headers['x-frame-options']);
      expect(response.body, name).toMatch(/^<!doctype html>/i);
      expect(response.body, name).not.toMatch(/FST_ERR|secret-looking|xxxxxxxxxx|bbbbbbbbbb|"statusCode"/);
    }
  });
});
