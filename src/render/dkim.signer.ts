import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import type { Config } from '../config/config.loader.ts';
import { ConfigError } from '../config/config.loader.ts';

/**
 * DKIM (RFC 6376) for messages this process builds itself. Headers are canonicalised "relaxed" and the
 * body "simple": the builder writes the body with CRLF line ends and exactly one final CRLF, so its
 * simple form is the body itself and the hash is one pass over bytes we already hold. RSA keys sign
 * with rsa-sha256; Ed25519 keys with ed25519-sha256 (RFC 8463), which is far cheaper per message.
 */

/** Signed when present, in this order. List-Unsubscribe and its -Post must be covered (RFC 8058). */
export const DKIM_SIGNED_HEADERS = [
  'from',
  'to',
  'subject',
  'date',
  'message-id',
  'reply-to',
  'list-id',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'feedback-id',
  'mime-version',
  'content-type',
];

export class DkimSigner {
  private readonly key: KeyObject;
  private readonly algorithm: 'rsa-sha256' | 'ed25519-sha256';

  constructor(
    private readonly domain: string,
    private readonly selector: string,
    privateKey: string,
  ) {
    try {
      // Keys in environment variables often arrive with literal "\n" instead of line breaks.
      this.key = createPrivateKey(privateKey.includes('\\n') ? privateKey.replace(/\\n/g, '\n') : privateKey);
    } catch {
      throw new ConfigError('invalid setting DKIM_PRIVATE_KEY: expected a PEM private key (RSA or Ed25519)');
    }
    const type = this.key.asymmetricKeyType;
    if (type === 'rsa') this.algorithm = 'rsa-sha256';
    else if (type === 'ed25519') this.algorithm = 'ed25519-sha256';
    else
      throw new ConfigError(
        `invalid setting DKIM_PRIVATE_KEY: ${type} keys are not supported (use RSA or Ed25519)`,
      );
  }

  /** From config, or undefined when DKIM is not configured (all three settings are needed). */
  static fromConfig(config: Config): DkimSigner | undefined {
    const { DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY } = config;
    if (!DKIM_DOMAIN && !DKIM_SELECTOR && !DKIM_PRIVATE_KEY) return undefined;
    if (!DKIM_DOMAIN || !DKIM_SELECTOR || !DKIM_PRIVATE_KEY) {
      throw new ConfigError(
        'invalid setting DKIM_DOMAIN: DKIM needs DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY together',
      );
    }
    return new DkimSigner(DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY);
  }

  /**
   * Returns the complete `DKIM-Signature: …` header line (without the final CRLF) for the given
   * headers (name, value exactly as written) and body. `now` (ms) is the clock reading the caller also
   * used for the Date header, so `t=` and Date always agree.
   */
  sign(
    headers: readonly (readonly [string, string])[],
    body: string | Buffer | readonly Buffer[],
    now: number = Date.now(),
  ): string {
    const hash = createHash('sha256');
    if (Array.isArray(body)) for (const chunk of body) hash.update(chunk);
    else hash.update(body as string | Buffer);
    const bodyHash = hash.digest('base64');
    const present = new Map<string, string>();
    for (const [name, value] of headers) present.set(name.toLowerCase(), value);
    const signed = DKIM_SIGNED_HEADERS.filter((h) => present.has(h));
    const time = Math.floor(now / 1000);
    const value = `v=1; a=${this.algorithm}; c=relaxed/simple; d=${this.domain}; s=${this.selector}; t=${time}; h=${signed.join(':')}; bh=${bodyHash}; b=`;
    let data = '';
    for (const h of signed) data += `${h}:${relaxed(present.get(h)!)}\r\n`;
    data += `dkim-signature:${relaxed(value)}`;
    const signature =
      this.algorithm === 'rsa-sha256'
        ? sign('sha256', Buffer.from(data), this.key)
        : sign(null, createHash('sha256').update(data).digest(), this.key);
    const b64 = signature.toString('base64');
    // Folded after each tag so no line is long; relaxed canonicalisation makes folding invisible.
    return `DKIM-Signature: ${value.replace(/; /g, ';\r\n ')}${b64.replace(/(.{72})(?=.)/g, '$1\r\n ')}`;
  }
}

/** Relaxed header value: unfolded, runs of white space as one space, trimmed. */
function relaxed(value: string): string {
  return value
    .replace(/\r\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .trim();
}
