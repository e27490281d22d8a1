import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from './errors.ts';

/**
 * Signed, purpose-bound tokens for links in mail and pages: `<payload>.<signature>`, both base64url.
 * The payload is JSON with the purpose (`p`), the claims and, for tokens that expire, `e` (unix
 * seconds). The HMAC key is derived per purpose from SECRET_KEY, so a token made for one purpose
 * can never verify for another even if its payload were edited to claim it. Signatures are compared
 * in constant time. Unsubscribe tokens have no expiry on purpose: an email from last year must still
 * let its reader leave.
 */

export type TokenPurpose = 'confirm' | 'unsubscribe' | 'preferences' | 'view' | 'verp' | 'csrf' | 'click';

export type Claims = Record<string, string | number | boolean | number[] | string[]>;

export interface SignOptions {
  /** Lifetime in seconds; omitted means the token never expires. */
  ttlSeconds?: number;
  now?: Date;
}

const SIGNATURE_BYTES = 16;
/** base64url payload, a dot, and the 16-byte signature in base64url (22 characters). */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/;

export class TokenSigner {
  private readonly keys = new Map<TokenPurpose, Buffer>();

  constructor(private readonly secret: string) {
    if (secret.length < 32) throw new Error('the token secret must be at least 32 characters');
  }

  sign(purpose: TokenPurpose, claims: Claims, options: SignOptions = {}): string {
    const body: Record<string, unknown> = { ...claims, p: purpose };
    if (options.ttlSeconds !== undefined) {
      const now = options.now ?? new Date();
      body.e = Math.floor(now.getTime() / 1000) + options.ttlSeconds;
    }
    const payload = Buffer.from(JSON.stringify(body)).toString('base64url');
    return `${payload}.${this.mac(purpose, payload).toString('base64url')}`;
  }

  /** Returns the claims, or throws `subscriptions.token_invalid` / `subscriptions.token_expired`. */
  verify<T extends Claims = Claims>(purpose: TokenPurpose, token: string, now: Date = new Date()): T {
    // Strict shape first: Node's base64url decoder skips characters it does not know, so without
    // this a signature with junk appended would still verify.
    if (token.length > 2048 || !TOKEN_SHAPE.test(token)) throw tokenInvalid();
    const dot = token.indexOf('.');
    const payload = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = this.mac(purpose, payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw tokenInvalid();

    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw tokenInvalid();
    }
    if (body === null || typeof body !== 'object' || body.p !== purpose) throw tokenInvalid();
    if (typeof body.e === 'number' && body.e * 1000 < now.getTime()) {
      throw new AppError('subscriptions.token_expired', 'this link has expired', { status: 400 });
    }
    const { p: _p, e: _e, ...claims } = body;
    return claims as T;
  }

  private mac(purpose: TokenPurpose, payload: string): Buffer {
    let key = this.keys.get(purpose);
    if (!key) {
      key = createHmac('sha256', this.secret).update(`digestmail/token/${purpose}`).digest();
      this.keys.set(purpose, key);
    }
    return createHmac('sha256', key).update(payload).digest().subarray(0, SIGNATURE_BYTES);
  }
}

function tokenInvalid(): AppError {
  return new AppError('subscriptions.token_invalid', 'this link is not valid', { status: 400 });
}
