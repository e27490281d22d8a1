import { connect, createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { backoffMs, type OutageEvent, OutageGate } from '../src/core/outage.gate.ts';
import { isDatabaseOutage } from '../src/db/db.health.ts';
import { freePort } from './helpers/serve.ts';

/** Connects to the port and hangs up: rejects with ECONNREFUSED while nothing listens there. */
function knock(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.end());
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('the outage gate', () => {
  it('waits between probes at most capMs (plus jitter), so a recovery is noticed within that', () => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const delay = backoffMs(attempt, 250, 2000);
      expect(delay).toBeGreaterThanOrEqual(Math.min(2000, 250 * 2 ** attempt) * 0.8 - 1);
      expect(delay).toBeLessThanOrEqual(2000 * 1.2 + 1);
    }
  });

  it('closes on the first outage error, logs one line for the start and one for the end, and opens for every waiter when the service is back', async () => {
    const port = await freePort();
    const events: OutageEvent[] = [];
    let probes = 0;
    const gate = new OutageGate({
      name: 'test service',
      baseMs: 20,
      capMs: 100,
      isOutage: (error) => (error as NodeJS.ErrnoException).code === 'ECONNREFUSED',
      probe: () => {
        probes++;
        return knock(port);
      },
    });
    gate.onEvent = (event) => events.push(event);

    const refused = await knock(port).catch((error: Error) => error);
    expect(gate.report(new Error('a constraint was violated'))).toBe(false);
    expect(gate.up).toBe(true);
    expect(gate.report(refused)).toBe(true);
    expect(gate.report(refused)).toBe(true); // a second loop meeting the same outage: no new line
    expect(gate.up).toBe(false);
    const waiters = [gate.waitUntilUp(), gate.waitUntilUp()];

    // Probing goes on while nothing listens (wait for a few failed probes: a state, not a time).
    while (probes < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(gate.up).toBe(false);
    const server = await listen(port);
    try {
      expect(await Promise.all(waiters)).toEqual([true, true]);
      expect(gate.up).toBe(true);
      expect(events.map((e) => e.event)).toEqual(['outage_started', 'outage_ended']);
      expect(events[0]).toMatchObject({
        name: 'test service',
        error: expect.stringContaining('ECONNREFUSED'),
      });
    } finally {
      server.close();
      await gate.close();
    }
  });

  it('retry() runs a write again after the outage, and close() releases waiters with false', async () => {
    const port = await freePort();
    const gate = new OutageGate({
      name: 'test service',
      baseMs: 20,
      capMs: 50,
      isOutage: (error) => (error as NodeJS.ErrnoException).code === 'ECONNREFUSED',
      probe: () => knock(port),
    });
    let server: Server | undefined;
    let tries = 0;
    const write = gate.retry(async () => {
      tries++;
      await knock(port);
      return 'written';
    });
    while (gate.up) await new Promise((resolve) => setTimeout(resolve, 10));
    server = await listen(port);
    expect(await write).toBe('written');
    expect(tries).toBe(2);
    server.close();
    server = undefined;

    await knock(port).catch((error) => gate.report(error));
    const waiting = gate.waitUntilUp();
    await gate.close();
    expect(await waiting).toBe(false);
  });
});

describe('isDatabaseOutage', () => {
  it('tells a server that is gone from a statement that was refused', () => {
    expect(
      isDatabaseOutage(
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5'), { code: 'ECONNREFUSED' }),
      ),
    ).toBe(true);
    // What PostgreSQL sends to every session on `pg_ctl stop -m fast` or a restart.
    expect(
      isDatabaseOutage(
        Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      ),
    ).toBe(true);
    expect(
      isDatabaseOutage(Object.assign(new Error('the database system is starting up'), { code: '57P03' })),
    ).toBe(true);
    expect(isDatabaseOutage(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseOutage(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(
      isDatabaseOutage(
        Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }),
      ),
    ).toBe(false);
    expect(
      isDatabaseOutage(Object.assign(new Error('syntax error at or near "selec"'), { code: '42601' })),
    ).toBe(false);
    expect(isDatabaseOutage(undefined)).toBe(false);
  });
});
