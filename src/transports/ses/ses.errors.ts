import { TransportError } from '../transport.types.ts';

/**
 * SES error names → what the worker should do. The rule of thumb: a problem with this one message is
 * permanent (its delivery fails); a problem with the account stops the issue (fatal) instead of burning
 * through the list; anything that may pass (throttling, 5xx, network) is transient and retried.
 *
 * https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#API_SendEmail_Errors
 */
const FATAL: Record<string, [code: string, reason: string]> = {
  AccountSuspendedException: ['ses.account_suspended', 'the SES account is suspended from sending'],
  SendingPausedException: [
    'ses.sending_paused',
    'sending is paused for this SES account or configuration set',
  ],
  MailFromDomainNotVerifiedException: [
    'ses.mail_from_not_verified',
    'the MAIL FROM domain is not verified in SES',
  ],
  LimitExceededException: ['ses.quota_exceeded', 'the SES 24-hour sending quota is used up'],
  NotFoundException: ['ses.not_found', 'the SES configuration set (or identity) does not exist'],
  AccessDeniedException: ['ses.access_denied', 'the AWS credentials may not send with SES'],
  UnrecognizedClientException: ['ses.bad_credentials', 'SES does not recognise the AWS credentials'],
  InvalidSignatureException: [
    'ses.bad_credentials',
    'SES rejected the request signature (check the AWS secret key)',
  ],
  CredentialsProviderError: ['ses.no_credentials', 'no AWS credentials found (environment, profile or role)'],
};

const THROTTLED = new Set([
  'TooManyRequestsException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
]);
/**
 * Refusals of the request or its content. None is a bounce (TransportError.hardBounce stays false):
 * SES reports a refused mailbox later, through SNS, so these fail the message and suppress nobody.
 */
const PERMANENT = new Set(['MessageRejected', 'BadRequestException', 'InvalidParameterValue']);
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'TimeoutError',
]);

/** Bad gateway, service unavailable, gateway timeout: the endpoint is down, not refusing us. */
const UNAVAILABLE = new Set([502, 503, 504]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string> };
}

export function classifySesError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  const e = (error ?? {}) as SdkError;
  const name = e.name ?? 'Error';
  const message = (e.message ?? String(error)).replace(/\s+/g, ' ').slice(0, 300);
  const status = e.$metadata?.httpStatusCode;

  if (THROTTLED.has(name) || status === 429 || /maximum sending rate exceeded/i.test(message)) {
    const retryAfter = Number(e.$response?.headers?.['retry-after']);
    return new TransportError('transient', 'ses.throttled', `SES throttled the send: ${message}`, {
      throttled: true,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      cause: error,
    });
  }
  const fatal = FATAL[name];
  if (fatal) return new TransportError('fatal', fatal[0], `${fatal[1]}: ${message}`, { cause: error });
  if (PERMANENT.has(name)) {
    return new TransportError(
      'permanent',
      name === 'MessageRejected' ? 'ses.message_rejected' : 'ses.bad_request',
      `SES rejected the message: ${message}`,
      { cause: error },
    );
  }
  if (NETWORK.has(name) || (e.code && NETWORK.has(e.code)) || status === undefined || status >= 500) {
    // Not reached at all, or its front door says it is down: an outage, not this message's fault.
    const unreachable =
      NETWORK.has(name) || (e.code !== undefined && NETWORK.has(e.code)) || UNAVAILABLE.has(status ?? 0);
    return new TransportError('transient', 'ses.unavailable', `SES did not answer: ${name}: ${message}`, {
      unreachable,
      cause: error,
    });
  }
  // Another 4xx we do not know: not worth retrying against this message forever, not a reason to stop.
  return new TransportError('permanent', 'ses.rejected', `SES refused the request: ${name}: ${message}`, {
    cause: error,
  });
}
