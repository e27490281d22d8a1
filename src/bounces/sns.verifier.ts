import { type KeyObject, verify as verifySignature, X509Certificate } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import { fetchHttps } from './https.fetcher.ts';

/**
 * Verification of Amazon SNS HTTP(S) messages, before anything in them is believed. Anyone can POST to
 * the webhook, so a message counts only when it is signed by a certificate fetched from an SNS host over
 * https, names a topic we subscribed to, and is recent. Each failed check throws an AppError with a 4xx
 * status and a code naming the check, and nothing has been changed at that point.
 *
 * https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
 */

export type SnsMessageType = 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';

export interface SnsMessage {
  Type: SnsMessageType;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: '1' | '2';
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  Token?: string;
  SubscribeURL?: string;
}

export interface SnsVerifierOptions {
  /** Topics we subscribed to (SNS_TOPIC_ARNS). Empty: every message is refused. */
  topicArns: readonly string[];
  /** Hosts certificates and SubscribeURLs may come from (SNS_CERT_HOST_PATTERN). */
  certHostPattern: string;
  /** Extra CA certificates to trust when fetching (tests serve certificates from a local HTTPS server). */
  ca?: string | Buffer;
  /** How old a message may be. SNS retries a failed delivery for up to an hour by default policy. */
  maxAgeMs?: number;
  now?: () => Date;
}

const MAX_AGE_MS = 60 * 60 * 1000;
/** Clocks differ a little; a timestamp further in the future than this is not a real SNS message. */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/**
 * How long a message id must be remembered: a replay of anything older is refused by its timestamp
 * anyway, so remembering it longer only grows the table.
 */
export const REPLAY_WINDOW_MS = MAX_AGE_MS + 2 * MAX_CLOCK_SKEW_MS;
const CERT_CACHE_LIMIT = 32;
const MAX_FIELD_LENGTH = 300 * 1024;

const SIGNED_FIELDS: Record<SnsMessageType, readonly (keyof SnsMessage)[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: [
    'Message',
    'MessageId',
    'SubscribeURL',
    'Timestamp',
    'Token',
    'TopicArn',
    'Type',
  ],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

export function rejected(code: string, message: string, status = 403): AppError {
  return new AppError(`webhooks.${code}`, message, { status });
}

/**
 * Parses the POSTed body (SNS sends JSON as text/plain) and checks that every field the signature and
 * the handling need is there and is a string. Throws `webhooks.malformed_json` or `webhooks.missing_field`.
 */
export function parseSnsMessage(body: unknown): SnsMessage {
  let value: unknown = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      value = JSON.parse(body.toString());
    } catch {
      throw rejected('malformed_json', 'the body is not valid JSON', 400);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw rejected('malformed_json', 'the body is not a JSON object', 400);
  }
  const record = value as Record<string, unknown>;
  const type = record.Type;
  if (type !== 'Notification' && type !== 'SubscriptionConfirmation' && type !== 'UnsubscribeConfirmation') {
    throw rejected(
      'missing_field',
      typeof type === 'string'
        ? `unknown SNS message Type "${type.slice(0, 40)}"`
        : 'the SNS field Type is missing',
      400,
    );
  }
  const required: (keyof SnsMessage)[] = [
    'MessageId',
    'TopicArn',
    'Message',
    'Timestamp',
    'SignatureVersion',
    'Signature',
    'SigningCertURL',
  ];
  if (type !== 'Notification') required.push('Token', 'SubscribeURL');
  for (const field of required) {
    if (typeof record[field] !== 'string' || record[field] === '') {
      throw rejected('missing_field', `the SNS field ${field} is missing`, 400);
    }
  }
  for (const field of ['Subject', ...required]) {
    const v = record[field];
    if (v !== undefined && (typeof v !== 'string' || v.length > MAX_FIELD_LENGTH)) {
      throw rejected('missing_field', `the SNS field ${field} is not a string of reasonable size`, 400);
    }
  }
  return record as unknown as SnsMessage;
}

/** The string SNS signs: each present field's name and value, one per line, in a fixed order. */
export function canonicalString(message: SnsMessage): string {
  let out = '';
  for (const field of SIGNED_FIELDS[message.Type]) {
    const value = message[field];
    if (value === undefined) {
      if (field === 'Subject') continue;
      throw rejected('missing_field', `the SNS field ${field} is missing`, 400);
    }
    out += `${field}\n${value}\n`;
  }
  return out;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * The rule for every URL SNS gives us to fetch (SigningCertURL, SubscribeURL): https, on the default
 * port, with a host that the whole pattern matches, and no user info. Parsing with URL first means
 * tricks such as `https://sns.us-east-1.amazonaws.com.evil.com/` or `https://evil.com/sns.…/x.pem`
 * are judged by their real host.
 */
export function checkSnsUrl(raw: string, hostPattern: RegExp, kind: 'certificate' | 'subscribe'): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw rejected('bad_cert_url', `the ${kind} URL is not a URL`);
  }
  if (url.protocol !== 'https:') throw rejected('bad_cert_url', `the ${kind} URL is not https`);
  if (url.username || url.password) throw rejected('bad_cert_url', `the ${kind} URL carries user info`);
  if (!hostPattern.test(url.hostname)) {
    throw rejected('bad_cert_url', `the ${kind} URL's host ${url.hostname.slice(0, 100)} is not an SNS host`);
  }
  // SNS serves on 443 only; another port is allowed for a loopback host, where a local test server runs.
  if (url.port !== '' && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw rejected('bad_cert_url', `the ${kind} URL names a port other than 443`);
  }
  if (kind === 'certificate' && !url.pathname.endsWith('.pem')) {
    throw rejected('bad_cert_url', 'the certificate URL does not end in .pem');
  }
  return url;
}

export class SnsVerifier {
  private readonly hostPattern: RegExp;
  private readonly topics: Set<string>;
  /** Certificates by URL, fetched once. A failed fetch is not cached, so SNS's retry can succeed. */
  private readonly certificates = new Map<string, Promise<KeyObject>>();

  constructor(private readonly options: SnsVerifierOptions) {
    this.hostPattern = hostPattern(options.certHostPattern);
    this.topics = new Set(options.topicArns);
  }

  /** Parses and verifies a POSTed body; returns the message only when every check passes. */
  async verify(body: unknown): Promise<SnsMessage> {
    const message = parseSnsMessage(body);
    if (message.SignatureVersion !== '1' && message.SignatureVersion !== '2') {
      throw rejected(
        'bad_signature_version',
        `SignatureVersion "${String(message.SignatureVersion).slice(0, 10)}" is not 1 or 2`,
      );
    }
    const certUrl = checkSnsUrl(message.SigningCertURL, this.hostPattern, 'certificate');
    if (message.SubscribeURL !== undefined && message.Type !== 'Notification') {
      checkSnsUrl(message.SubscribeURL, this.hostPattern, 'subscribe');
    }
    if (!this.topics.has(message.TopicArn)) {
      throw rejected('unknown_topic', `topic ${message.TopicArn.slice(0, 200)} is not in SNS_TOPIC_ARNS`);
    }
    this.checkTimestamp(message.Timestamp);

    const key = await this.certificate(certUrl.href);
    const algorithm = message.SignatureVersion === '1' ? 'sha1' : 'sha256';
    const signature = Buffer.from(message.Signature, 'base64');
    const ok =
      signature.length > 0 &&
      verifySignature(algorithm, Buffer.from(canonicalString(message), 'utf8'), key, signature);
    if (!ok) throw rejected('bad_signature', 'the signature does not match the message');
    return message;
  }

  /** The URL to GET to confirm a subscription, checked by the same host rule as certificates. */
  subscribeUrl(message: SnsMessage): URL {
    if (!message.SubscribeURL) throw rejected('missing_field', 'the SNS field SubscribeURL is missing', 400);
    return checkSnsUrl(message.SubscribeURL, this.hostPattern, 'subscribe');
  }

  /** Options for fetching from SNS hosts (the test CA, when one is given). */
  get fetchOptions(): { ca?: string | Buffer } {
    return this.options.ca === undefined ? {} : { ca: this.options.ca };
  }

  private checkTimestamp(value: string): void {
    const at = Date.parse(value);
    if (!Number.isFinite(at) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
      throw rejected('bad_timestamp', 'the Timestamp is not an ISO date', 400);
    }
    const now = (this.options.now?.() ?? new Date()).getTime();
    if (now - at > (this.options.maxAgeMs ?? MAX_AGE_MS)) {
      throw rejected('stale', `the message is too old (sent ${value})`);
    }
    if (at - now > MAX_CLOCK_SKEW_MS) throw rejected('stale', `the message is from the future (${value})`);
  }

  private certificate(url: string): Promise<KeyObject> {
    let cached = this.certificates.get(url);
    if (!cached) {
      if (this.certificates.size >= CERT_CACHE_LIMIT) {
        const oldest = this.certificates.keys().next().value;
        if (oldest !== undefined) this.certificates.delete(oldest);
      }
      cached = this.loadCertificate(url);
      this.certificates.set(url, cached);
      cached.catch(() => this.certificates.delete(url));
    }
    return cached;
  }

  private async loadCertificate(url: string): Promise<KeyObject> {
    const response = await fetchHttps(url, { ...this.fetchOptions, maxBytes: 64 * 1024 });
    // The host is an SNS host, so a 4xx means the URL names no certificate: a forgery, not an outage.
    // A 5xx may pass, and a 502 from us lets SNS deliver the message again later.
    if (response.status >= 400 && response.status < 500) {
      throw rejected('bad_certificate', `the signing certificate URL answered HTTP ${response.status}`);
    }
    if (response.status !== 200) {
      throw new AppError(
        'webhooks.cert_unavailable',
        `the signing certificate answered HTTP ${response.status}`,
        { status: 502 },
      );
    }
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(response.body);
    } catch {
      throw rejected('bad_certificate', 'the signing certificate is not a PEM certificate');
    }
    const now = Date.now();
    if (Date.parse(certificate.validFrom) > now || Date.parse(certificate.validTo) < now) {
      throw rejected('bad_certificate', 'the signing certificate is not valid today');
    }
    return certificate.publicKey;
  }
}

/** The setting is matched against the whole host, whether or not it was written with ^ and $. */
export function hostPattern(pattern: string): RegExp {
  const body = pattern.replace(/^\^/, '').replace(/\$$/, '');
  return new RegExp(`^(?:${body})$`, 'i');
}
