import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dkimVerify } from 'mailauth';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { MessageBuilder } from '../src/render/message.builder.ts';
import type { IssueTemplate } from '../src/render/render.types.ts';
import { TokenSigner } from '../src/subscriptions/tokens.ts';
import { renderTestConfig } from './fixtures/digests/config.ts';

/**
 * What strict outside tools say about the messages we build (issue 11, points 12–17): an independent
 * DKIM verifier (mailauth), RFC 2047 / 2919 / 5321 header limits, the transfer encoding of CJK parts,
 * format=flowed text, and Python's strict `email` parser.
 */

const zhDaily = readFileSync(new URL('./fixtures/digests/zh-daily.md', import.meta.url), 'utf8');
const LIST = { id: 3, slug: 'ai-daily', name: 'AI 日报' };

let template: IssueTemplate;
beforeAll(async () => {
  template = await compileIssue(parseDigest(zhDaily, 'zh-daily.md'), {
    config: renderTestConfig(),
    list: LIST,
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

function builderWith(extra: Record<string, string> = {}): { builder: MessageBuilder; signer: TokenSigner } {
  const config = renderTestConfig(extra);
  const signer = new TokenSigner(config.SECRET_KEY);
  return { builder: new MessageBuilder(config, signer), signer };
}

/** The DNS TXT record a domain would publish for this public key (RFC 6376 §3.6.1, RFC 8463). */
function dkimTxtRecord(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  if (publicKey.asymmetricKeyType === 'ed25519') {
    // RFC 8463: the bare 32-byte key, not the SPKI structure.
    return `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString('base64')}`;
  }
  return `v=DKIM1; k=rsa; p=${der.toString('base64')}`;
}

/** mailauth's verdict on a message, with the selector's key served from memory instead of DNS. */
async function mailauthDkim(raw: Buffer, publicKey: KeyObject): Promise<string[]> {
  const record = dkimTxtRecord(publicKey);
  const result = await dkimVerify(raw, {
    resolver: async (name: string, type: string) => {
      if (type === 'TXT' && name === 'dm1._domainkey.example.org') return [[record]];
      throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
    },
  });
  return result.results.map((r) => r.status.result);
}

describe('DKIM, checked by an independent verifier (mailauth)', () => {
  it.each(['rsa', 'ed25519'] as const)(
    'a %s signature still verifies when building the message crosses a second boundary',
    async (type) => {
      const pair =
        type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
      const { builder } = builderWith({
        DKIM_DOMAIN: 'example.org',
        DKIM_SELECTOR: 'dm1',
        DKIM_PRIVATE_KEY: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      });
      const issue = { id: 7, template, list: LIST };
      const recipient = { email: 'r@example.com', name: 'Ann', subscriberId: 1, deliveryId: 5 };

      // A clock that moves a whole second every time it is read: whatever reads the time more than
      // once while building one message sees two different seconds, as a real build does ~40 times
      // in a million.
      let now = Date.UTC(2026, 11, 1, 9, 0, 0, 999);
      vi.spyOn(Date, 'now').mockImplementation(() => {
        now += 1000;
        return now;
      });
      const straddling = builder.build(issue, recipient);
      const transactional = builder.buildTransactional({
        to: 'r@example.com',
        subject: 'Bitte bestätigen',
        html: '<p>Hallo</p>',
        text: 'Hallo\n',
        kind: 'confirm',
      });
      vi.restoreAllMocks();

      expect(await mailauthDkim(straddling.raw, pair.publicKey)).toEqual(['pass']);
      expect(await mailauthDkim(transactional.raw, pair.publicKey)).toEqual(['pass']);
      // The verifier can say no: a changed Date header no longer verifies.
      const tampered = straddling.raw
        .toString('utf8')
        .replace(/^Date: .*$/m, 'Date: Tue, 01 Dec 2026 09:59:59 +0000');
      expect(await mailauthDkim(Buffer.from(tampered), pair.publicKey)).not.toEqual(['pass']);
    },
  );
});
