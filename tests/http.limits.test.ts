import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.ts';
import { ListsService } from '../src/subscriptions/lists.service.ts';
import { signUnsubscribe } from '../src/core/reader-tokens.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { testConfig } from './helpers/http-app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

let database: TestDatabase;
let app: FastifyInstance;
let port: number;
let token: string;

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  // Short timeouts, so a stalled request is cut within seconds here (the defaults are 30 s / 10 s / 5 s).
  const config = testConfig({
    HTTP_REQUEST_TIMEOUT: '3',
    HTTP_HEADERS_TIMEOUT: '2',
    HTTP_KEEPALIVE_TIMEOUT: '1',
  });
  app = await buildApp({ config, db: database.db });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
  const list = (await new ListsService(database.db).create({ slug: 'limits', name: 'Limits' })).id;
  const reader = await database.db
    .insertInto('subscribers')
    .values({ email: 'limits@example.com' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await database.db
    .insertInto('subscriptions')
    .values({ subscriber_id: reader.id, list_id: list, status: 'confirmed', confirmed_at: new Date() })
    .execute();
  token = signUnsubscribe(new TokenSigner(config.SECRET_KEY), reader.id, list);
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

/** A raw connection: what it received, and whether the server closed it. */
function connect(): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      raw += d;
    });
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => raw, closed }));
    socket.once('error', reject);
  });
}

describe('request bodies and timeouts', () => {
  it('a chunked multipart body is cut at the body limit by bytes received, whatever it declares', async () => {
    const { socket, received, closed } = await connect();
    const boundary = 'xLimitBoundary';
    socket.write(
      `POST /unsubscribe/${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    socket.write(
      chunk(
        `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`,
      ),
    );
    // Then 4 MiB after the closing boundary (busboy reads an epilogue to the end), while the server lets us.
    const junk = chunk('z'.repeat(64 * 1024));
    for (let i = 0; i < 64 && !socket.destroyed && received() === ''; i++) {
      await new Promise<void>((done) => socket.write(junk, () => done()));
    }
    if (!socket.destroyed && received() === '') socket.write('0\r\n\r\n');
    await Promise.race([closed, new Promise((done) => socket.once('data', done))]);
    await new Promise((done) => setImmediate(done));
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    socket.destroy();
  });

  it('a POST that declares a body and never sends it is cut by the request timeout', async () => {
    const { socket, received, closed } = await connect();
    socket.write(
      'POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=',
    );
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a client that never finishes its headers is cut by the headers timeout', async () => {
    const { socket, closed } = await connect();
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    await closed;
    expect(socket.destroyed || socket.readableEnded).toBe(true);
  });
});
