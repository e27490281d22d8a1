import type { Config } from '../config/config.loader.ts';
import { invalid } from '../core/errors.ts';
import { OutboxTransport } from './outbox/outbox.transport.ts';
import { parseSesUrl, SesTransport } from './ses/ses.transport.ts';
import { SmtpTransport } from './smtp/smtp.transport.ts';
import type { Transport } from './transport.types.ts';

/**
 * The one place that turns MAIL_URL into a transport; everything else only knows the Transport
 * contract. Each scheme gets one branch here and a folder of its own.
 */
export function createTransport(
  config: Pick<Config, 'MAIL_URL' | 'SEND_CONCURRENCY'> & Partial<Config>,
): Transport {
  const url = config.MAIL_URL;
  if (url.startsWith('outbox:')) return new OutboxTransport(url.slice('outbox:'.length));
  if (url.startsWith('smtp://') || url.startsWith('smtps://')) {
    return new SmtpTransport({ url, connections: config.SEND_CONCURRENCY });
  }
  if (url.startsWith('ses://')) return new SesTransport(parseSesUrl(url, config.SES_ENDPOINT));
  throw invalid(
    'transports.mail_url_unsupported',
    `MAIL_URL "${url.replace(/\/\/[^@/]*@/, '//…@')}" has a scheme digestmail cannot send with (smtp://, smtps://, ses://, outbox:)`,
  );
}
