import type { Kysely } from 'kysely';
import { OutageGate } from '../core/outage.gate.ts';
import { selectOne } from './health.repository.ts';

/** Node socket errors that mean the server cannot be reached (or went away under us). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
]);

/**
 * SQLSTATEs of a server that is going, gone or not there yet: class 08 (connection exception),
 * 57P01 admin_shutdown ("terminating connection due to administrator command"), 57P02 crash_shutdown,
 * 57P03 cannot_connect_now ("the database system is starting up" / "shutting down").
 */
const OUTAGE_STATES = /^(08\w{3}|57P0[123])$/;

/** What node-postgres says when a connection dies or cannot be made, in words rather than codes. */
const OUTAGE_MESSAGES =
  /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Client was closed and is not queryable|Connection ended unexpectedly/i;

/**
 * Whether an error says the database cannot be reached, as opposed to refusing one statement (a
 * constraint, a syntax error, a lock timeout). Only the former closes the database gate.
 */
export function isDatabaseOutage(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; errors?: unknown[] } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || OUTAGE_STATES.test(e.code))) return true;
  if (typeof e.message === 'string' && OUTAGE_MESSAGES.test(e.message)) return true;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  return Array.isArray(e.errors) && e.errors.some(isDatabaseOutage);
}

const gates = new WeakMap<object, OutageGate>();

/** A gate for a database that cannot go away (the embedded one, in this very process). */
function alwaysUp(): OutageGate {
  return new OutageGate({ name: 'database', probe: async () => {}, isOutage: () => false });
}
const embedded = alwaysUp();

/** Ties a database handle to its gate (done once, by the factory that opened it). */
export function registerDatabaseHealth(db: Kysely<any>, gate: OutageGate): void {
  gates.set(db, gate);
}

/**
 * The gate of the database behind `db`: closed while PostgreSQL cannot be reached. Every loop of the
 * process (workers, scheduler, outbox sender, the web app) asks the same one, so an outage is logged
 * once and ends for all of them at the same moment. A database this process holds itself (PGlite)
 * is always up.
 */
export function databaseHealth(db: Kysely<any>): OutageGate {
  return gates.get(db) ?? embedded;
}

/**
 * Whether the database answers a statement now, on the process's own pool: what `/healthz` asks
 * while the gate is open (throws what the driver threw; the caller reports it to the gate).
 */
export async function databaseAnswers(db: Kysely<any>): Promise<void> {
  await selectOne(db);
}
