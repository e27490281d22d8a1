import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../config/config.loader.ts';
import { TokenSigner } from '../core/tokens.ts';

/**
 * VERP envelope senders (`bounces+<id>-<mac>@domain`) that name one delivery, short enough for the
 * 64-octet local part of RFC 5321 §4.5.3.1.1.
 *
 * The tag is the delivery id in base 36 and an 80-bit HMAC-SHA256 of it (key derived from SECRET_KEY
 * for this use only), also in base 36 and padded to 16 characters. Everything is lower case because
 * mail systems are allowed to, and some do, change the case of a local part on the way back.
 * 80 bits: a forger has to guess online, one bounce mail per guess, so 2^80 tries per delivery are
 * out of reach; a full signed token (the old form) needed 47+ characters and pushed
 * `newsletter-bounces+…` over 64.
 *
 * Hand-written rather than a library: it is one HMAC and a number in base 36.
 */

const MAC_BYTES = 10;
const MAC_CHARS = 16; // 36^16 > 2^80
/** Number.MAX_SAFE_INTEGER in base 36 is 11 characters: the longest id part. */
const MAX_ID_CHARS = Number.MAX_SAFE_INTEGER.toString(36).length;
const LOCAL_PART_MAX = 64;
/** The longest bounce local part VERP can extend: `+`, the id, `-` and the MAC must still fit. */
export const VERP_LOCAL_MAX = LOCAL_PART_MAX - 1 - MAX_ID_CHARS - 1 - MAC_CHARS;

const NEW_FORM = /^<?[^+@<>\s]+\+([0-9a-z]{1,11})-([0-9a-z]{16})@[^@<>\s]+>?$/;
const OLD_FORM = /^<?[^+@<>\s]+\+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)@[^@<>\s]+>?$/;

/**
 * A bounce local part too long to carry the tag is a setting error at start, not a MAIL FROM that
 * servers reject at send time.
 */
export function assertVerpFits(local: string): void {
  if (Buffer.byteLength(local) > VERP_LOCAL_MAX) {
    throw new ConfigError(
      `invalid setting BOUNCE_ADDRESS: with VERP its local part ("${local}") must be at most ${VERP_LOCAL_MAX} characters, so that the address with a delivery tag stays within the 64 of RFC 5321`,
    );
  }
}

export class VerpAddresses {
  private readonly key: Buffer;
  private readonly legacy: TokenSigner;

  /** `local` and `domain`: the bounce address that VERP extends (see `assertVerpFits`). */
  constructor(
    secret: string,
    private readonly local: string,
    private readonly domain: string,
  ) {
    this.key = createHmac('sha256', secret).update('digestmail/verp/v2').digest();
    this.legacy = new TokenSigner(secret);
  }

  /** The envelope sender for one delivery. */
  address(deliveryId: number): string {
    return `${this.local}+${deliveryId.toString(36)}-${this.mac(deliveryId)}@${this.domain}`;
  }

  /**
   * The delivery id a VERP address names, or undefined when the address is not one of ours or its MAC
   * does not verify (bounces can be forged; only a signed id is believed). Addresses of the old form
   * (a full signed token, before the short tag) are still read: their bounces can arrive days later.
   */
  parse(address: string): number | undefined {
    const trimmed = address.trim();
    const m = NEW_FORM.exec(trimmed.toLowerCase());
    if (m) {
      const id = Number.parseInt(m[1]!, 36);
      if (!Number.isSafeInteger(id) || id.toString(36) !== m[1]) return undefined;
      const expected = Buffer.from(this.mac(id));
      const given = Buffer.from(m[2]!);
      return given.length === expected.length && timingSafeEqual(given, expected) ? id : undefined;
    }
    const old = OLD_FORM.exec(trimmed);
    if (!old) return undefined;
    try {
      const claims = this.legacy.verify<{ d: number }>('verp', old[1]!);
      return typeof claims.d === 'number' && Number.isSafeInteger(claims.d) ? claims.d : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(deliveryId: number): string {
    const digest = createHmac('sha256', this.key).update(String(deliveryId)).digest().subarray(0, MAC_BYTES);
    return BigInt(`0x${digest.toString('hex')}`)
      .toString(36)
      .padStart(MAC_CHARS, '0');
  }
}

/**
 * The delivery id a VERP envelope address names, or undefined when the address is not one of ours
 * or its signature does not verify (bounces can be forged; only a signed id is believed). Only the
 * tag is read, so any local part and domain will do here; `bounces ingest` imports this module
 * alone, without the message builder and the MIME code it loads.
 */
export function parseVerpAddress(address: string, secret: string): number | undefined {
  return new VerpAddresses(secret, 'bounces', 'invalid').parse(address);
}
