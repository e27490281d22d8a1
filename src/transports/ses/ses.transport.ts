import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { invalid } from '../../core/errors.ts';
import type { OutgoingMessage, SendResult, Transport } from '../transport.types.ts';
import { classifySesError } from './ses.errors.ts';

export interface SesTransportOptions {
  region: string;
  configurationSet?: string;
  /** SES_ENDPOINT: another endpoint speaking the SES v2 API (a local SES in tests). */
  endpoint?: string;
}

/** `ses://<region>[?configurationSet=NAME]` → options. */
export function parseSesUrl(url: string, endpoint?: string): SesTransportOptions {
  const match = /^ses:\/\/([a-z0-9-]+)(?:\?(.*))?$/.exec(url);
  if (!match) {
    throw invalid(
      'transports.ses_url_invalid',
      `MAIL_URL "${url}" is not ses://<region>[?configurationSet=NAME]`,
    );
  }
  const params = new URLSearchParams(match[2] ?? '');
  for (const key of params.keys()) {
    if (key !== 'configurationSet') {
      throw invalid(
        'transports.ses_url_invalid',
        `MAIL_URL: unknown ses:// option "${key}" (only configurationSet)`,
      );
    }
  }
  const configurationSet = params.get('configurationSet') ?? undefined;
  if (configurationSet !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(configurationSet)) {
    throw invalid(
      'transports.ses_url_invalid',
      `MAIL_URL: configurationSet "${configurationSet}" is not a valid name`,
    );
  }
  return {
    region: match[1]!,
    ...(configurationSet ? { configurationSet } : {}),
    ...(endpoint ? { endpoint } : {}),
  };
}

/**
 * Amazon SES v2 `SendEmail` with Raw content, so the message SES sends is byte for byte the one we
 * built (our headers, List-Unsubscribe, DKIM signature). Credentials come from the standard AWS chain
 * (environment, shared config, SSO, instance or container role). The SDK's own retries are off: a
 * throttled or failed send goes back to the worker as a classified TransportError, and the worker, which
 * holds the shared send rate, decides when to try again; retrying here too would hide throttling from
 * the rate limiter and multiply attempts.
 */
export class SesTransport implements Transport {
  readonly name = 'ses' as const;
  private sdk: Promise<{ client: SESv2Client; sdk: typeof import('@aws-sdk/client-sesv2') }> | undefined;
  private account: Promise<number | undefined> | undefined;

  constructor(private readonly options: SesTransportOptions) {}

  /** The AWS SDK is loaded on first use, so commands that never send through SES never pay for it. */
  private client() {
    // The pinned SDK runs on Node 20; its notice that *later* SDK versions will need Node 22 would
    // otherwise land on stderr of every command that sends through SES. An operator may set it to false.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.sdk ??= import('@aws-sdk/client-sesv2').then((sdk) => ({
      sdk,
      client: new sdk.SESv2Client({
        region: this.options.region,
        maxAttempts: 1,
        // Without these an endpoint that accepts the connection and never answers holds a send
        // forever; with them it is an outage (TimeoutError) the worker waits out.
        requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
        ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
      }),
    }));
    return this.sdk;
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const tags = [];
    if (message.tags?.issueId !== undefined)
      tags.push({ Name: 'issue', Value: String(message.tags.issueId) });
    if (message.tags?.deliveryId !== undefined) {
      tags.push({ Name: 'delivery', Value: String(message.tags.deliveryId) });
    }
    if (message.tags?.kind)
      tags.push({ Name: 'kind', Value: message.tags.kind.replace(/[^A-Za-z0-9_-]/g, '_') });
    const { client, sdk } = await this.client();
    try {
      const result = await client.send(
        new sdk.SendEmailCommand({
          Destination: { ToAddresses: message.to },
          Content: { Raw: { Data: message.raw } },
          ...(this.options.configurationSet ? { ConfigurationSetName: this.options.configurationSet } : {}),
          ...(tags.length > 0 ? { EmailTags: tags } : {}),
        }),
      );
      if (!result.MessageId) throw new Error('SES accepted the message but returned no MessageId');
      return { providerMessageId: result.MessageId, response: `SES MessageId ${result.MessageId}` };
    } catch (error) {
      throw classifySesError(error);
    }
  }

  /**
   * The account's MaxSendRate from GetAccount, read once. When the account cannot be read (no
   * ses:GetAccount permission, or an endpoint without it) the answer is "unknown": SEND_RATE alone
   * limits the rate, and throttling replies still slow the worker down.
   */
  maxRate(): Promise<number | undefined> {
    this.account ??= this.client()
      .then(({ client, sdk }) => client.send(new sdk.GetAccountCommand({})))
      .then((account) => {
        const rate = account.SendQuota?.MaxSendRate;
        return typeof rate === 'number' && rate > 0 ? rate : undefined;
      })
      .catch(() => undefined);
    return this.account;
  }

  /** GetAccount answers whenever the endpoint does; a refusal (no permission) is an answer too. */
  async probe(): Promise<void> {
    const { client, sdk } = await this.client();
    try {
      await client.send(new sdk.GetAccountCommand({}));
    } catch (error) {
      throw classifySesError(error);
    }
  }

  async close(): Promise<void> {
    if (this.sdk) (await this.sdk).client.destroy();
  }
}
