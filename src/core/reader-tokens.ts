import { AppError } from './errors.ts';
import type { TokenSigner } from './tokens.ts';

/**
 * The claims carried by the links readers get, in one place so the mail that makes a link and the
 * page that reads it agree: confirm `{ s, l, c? }` (48 h; `c` names the confirmation mail, whose
 * signup's name the confirmation applies), unsubscribe `{ s, l, t? }` (never expires:
 * last year's mail must still let its reader leave; `t: 1` marks an editor's test mail) and
 * preferences `{ s }`. A token whose claims have the wrong shape is as invalid as a forged one. Links
 * in an editor's test send carry subscriber 0 (and `t: 1` on unsubscribe): they show a notice.
 */

export const CONFIRM_TTL_SECONDS = 48 * 3600;

export interface ConfirmClaims {
  subscriberId: number;
  listIds: number[];
  /**
   * The confirmation mail (its outbox id) the link came in. A name given at signup is kept with that
   * mail, never in its text, and applied only when this link confirms. Absent in links made before
   * names waited for confirmation, which then change no name.
   */
  confirmationId?: number;
}

export interface UnsubscribeClaims {
  subscriberId: number;
  listId: number;
  test: boolean;
}

export function signConfirm(
  signer: TokenSigner,
  subscriberId: number,
  listIds: number[],
  now?: Date,
  confirmationId?: number,
): string {
  return signer.sign(
    'confirm',
    confirmationId === undefined
      ? { s: subscriberId, l: listIds }
      : { s: subscriberId, l: listIds, c: confirmationId },
    now ? { ttlSeconds: CONFIRM_TTL_SECONDS, now } : { ttlSeconds: CONFIRM_TTL_SECONDS },
  );
}

export function signUnsubscribe(signer: TokenSigner, subscriberId: number, listId: number): string {
  return signer.sign('unsubscribe', { s: subscriberId, l: listId });
}

export function signPreferences(signer: TokenSigner, subscriberId: number): string {
  return signer.sign('preferences', { s: subscriberId });
}

export function readConfirm(signer: TokenSigner, token: string): ConfirmClaims {
  const claims = signer.verify('confirm', token);
  const s = claims.s;
  const l = claims.l;
  const c = claims.c;
  if (!isId(s) || !Array.isArray(l) || l.length === 0 || l.length > 50 || !l.every(isId)) throw badClaims();
  if (c !== undefined && !isId(c)) throw badClaims();
  return c === undefined
    ? { subscriberId: s, listIds: l as number[] }
    : { subscriberId: s, listIds: l as number[], confirmationId: c };
}

export function readUnsubscribe(signer: TokenSigner, token: string): UnsubscribeClaims {
  const claims = signer.verify('unsubscribe', token);
  const test = claims.t === 1 || claims.t === true;
  // An editor's test send has no subscriber behind it: subscriber 0.
  const subscriber = claims.s;
  if (!isId(claims.l) || !((test && subscriber === 0) || isId(subscriber))) throw badClaims();
  return { subscriberId: subscriber as number, listId: claims.l, test };
}

/** The subscriber id; 0 for the link in an editor's test send, which has no subscriber behind it. */
export function readPreferences(signer: TokenSigner, token: string): number {
  const claims = signer.verify('preferences', token);
  const subscriber = claims.s;
  if (subscriber === 0 || isId(subscriber)) return subscriber;
  throw badClaims();
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function badClaims(): AppError {
  return new AppError('subscriptions.token_invalid', 'this link is not valid', { status: 400 });
}
