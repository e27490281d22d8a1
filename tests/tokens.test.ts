import { describe, expect, it } from 'vitest';
import { TokenSigner } from '../src/core/tokens.ts';

const signer = new TokenSigner('k'.repeat(64));

describe('signed tokens', () => {
  it('round-trips claims for the purpose they were made for', () => {
    const token = signer.sign('unsubscribe', { s: 42, l: 7 });
    expect(signer.verify('unsubscribe', token)).toEqual({ s: 42, l: 7 });
  });

  it('a token made for one purpose never verifies for another', () => {
    const token = signer.sign('preferences', { s: 42 });
    expect(() => signer.verify('unsubscribe', token)).toThrow(
      expect.objectContaining({ code: 'subscriptions.token_invalid' }),
    );
  });

  it('an edited payload, a truncated or a foreign signature is refused', () => {
    const token = signer.sign('unsubscribe', { s: 42, l: 7 });
    const [payload, signature] = token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ s: 43, l: 7, p: 'unsubscribe' })).toString('base64url');
    for (const bad of [
      `${forged}.${signature}`,
      `${payload}.${signature.slice(0, -2)}`,
      payload,
      `${payload}.`,
      new TokenSigner('z'.repeat(64)).sign('unsubscribe', { s: 42, l: 7 }),
      'not a token at all',
    ]) {
      expect(() => signer.verify('unsubscribe', bad)).toThrow(
        expect.objectContaining({ code: 'subscriptions.token_invalid' }),
      );
    }
  });

  it('an expired token says so', () => {
    const token = signer.sign('confirm', { s: 1 }, { ttlSeconds: 60, now: new Date('2026-01-01T00:00:00Z') });
    expect(signer.verify('confirm', token, new Date('2026-01-01T00:00:59Z'))).toEqual({ s: 1 });
    expect(() => signer.verify('confirm', token, new Date('2026-01-01T00:01:01Z'))).toThrow(
      expect.objectContaining({ code: 'subscriptions.token_expired' }),
    );
  });

  it('unsubscribe tokens made without a lifetime never expire', () => {
    const token = signer.sign('unsubscribe', { s: 1, l: 1 });
    expect(signer.verify('unsubscribe', token, new Date('2099-01-01T00:00:00Z'))).toEqual({ s: 1, l: 1 });
  });
});

describe('token shape', () => {
  it('characters a base64url decoder would skip make a token invalid', () => {
    const token = signer.sign('confirm', { s: 1 });
    for (const bad of [`${token}!!`, `${token}=`, `${token.slice(0, 5)} ${token.slice(5)}`, `${token}\n`]) {
      expect(() => signer.verify('confirm', bad)).toThrow(
        expect.objectContaining({ code: 'subscriptions.token_invalid' }),
      );
    }
  });
});
