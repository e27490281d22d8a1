import { z } from 'zod';

/**
 * Every setting digestmail reads, with its default. The README's settings table mirrors this file;
 * change both together. Values are strings in the environment, so numbers and flags are coerced here
 * and nowhere else.
 */

const positiveInt = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a whole number' })
    .int({ error: 'expected a whole number' })
    .positive({ error: 'expected a whole number greater than 0' })
    .default(fallback);

const positiveNumber = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a number' })
    .positive({ error: 'expected a number greater than 0' })
    .default(fallback);

const FLAG_WORDS = new Map([
  ['1', true],
  ['true', true],
  ['yes', true],
  ['on', true],
  ['0', false],
  ['false', false],
  ['no', false],
  ['off', false],
]);
const flag = (fallback: boolean) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => FLAG_WORDS.has(v), { error: 'expected true or false' })
    .transform((v) => FLAG_WORDS.get(v) === true)
    .default(fallback);

const optionalText = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const httpUrl = z
  .string()
  .trim()
  .refine(
    (v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    },
    { error: 'expected an http(s) URL such as https://news.example.org' },
  )
  .transform((v) => v.replace(/\/+$/, ''));

const mailUrl = z
  .string()
  .trim()
  .refine((v) => /^(smtps?:\/\/[^\s]+|outbox:.+|ses:\/\/[a-z0-9-]+(\?.*)?)$/.test(v), {
    error:
      'expected smtp://user:pass@host:port, smtps://…, ses://<region>[?configurationSet=NAME] or outbox:<dir>',
  });

const address = z
  .string()
  .trim()
  .refine((v) => /^(?:[^<>@\s]+@[^<>@\s]+|.*<[^<>@\s]+@[^<>@\s]+>)$/.test(v) && v.includes('@'), {
    error: 'expected an address such as "Name <news@example.org>"',
  });

const imapUrl = z
  .string()
  .trim()
  .refine(
    (v) => {
      try {
        const u = new URL(v);
        return (
          (u.protocol === 'imaps:' || u.protocol === 'imap:') &&
          u.hostname !== '' &&
          u.username !== '' &&
          u.password !== ''
        );
      } catch {
        return false;
      }
    },
    { error: 'expected imaps://user:password@host/INBOX (user and password URL-encoded)' },
  );

const postgresUrl = z
  .string()
  .trim()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), { error: 'expected postgres://user@host:port/database' });

/** A TCP port, 0 to 65535 (0: the system picks a free one). */
const tcpPort = () =>
  z.coerce
    .number({ error: 'expected a TCP port number' })
    .int({ error: 'expected a TCP port number' })
    .min(0, { error: 'expected a TCP port number from 0 to 65535' })
    .max(65535, { error: 'expected a TCP port number from 0 to 65535' });

const timeZone = z
  .string()
  .trim()
  .refine(
    (v) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: v });
        return true;
      } catch {
        return false;
      }
    },
    { error: 'expected an IANA time zone such as Asia/Shanghai or UTC' },
  );

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DEBUG: flag(false),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  // storage
  DATABASE_URL: postgresUrl.optional(),
  DATA_DIR: z.string().trim().min(1).default('./.digestmail'),
  DATABASE_POOL_SIZE: positiveInt(10),

  // identity and links
  PUBLIC_URL: httpUrl.default('http://localhost:3000'),
  SECRET_KEY: z
    .string()
    .trim()
    .min(32, { error: 'expected at least 32 characters of random text (openssl rand -hex 32)' })
    .optional(),
  ORG_NAME: z.string().trim().min(1).default('digestmail'),
  POSTAL_ADDRESS: z.string().trim().default(''),

  // mail
  MAIL_URL: mailUrl.optional(),
  MAIL_FROM: address.default('digestmail <newsletter@localhost>'),
  REPLY_TO: address.optional(),
  BOUNCE_ADDRESS: address.optional(),
  VERP: flag(false),
  DKIM_DOMAIN: optionalText,
  DKIM_SELECTOR: optionalText,
  DKIM_PRIVATE_KEY: optionalText,
  SES_ENDPOINT: httpUrl.optional(),

  // sending
  SEND_RATE: positiveNumber(10),
  SEND_CONCURRENCY: positiveInt(4),
  SEND_BATCH_SIZE: positiveInt(200),
  // Renewed every third of it: below 5 s one slow renewal lets another worker take live work.
  LEASE_SECONDS: z.coerce
    .number({ error: 'expected a whole number of seconds, at least 5' })
    .int({ error: 'expected a whole number of seconds, at least 5' })
    .min(5, { error: 'expected a whole number of seconds, at least 5' })
    .default(30),
  MAX_ATTEMPTS: positiveInt(8),
  // First retry delay after a transient failure; each further attempt doubles it (with jitter), capped at an hour.
  RETRY_BASE_SECONDS: positiveNumber(30),
  FAILURE_PAUSE_RATE: z.coerce
    .number({ error: 'expected a fraction between 0 and 1' })
    .min(0, { error: 'expected a fraction between 0 and 1' })
    .max(1, { error: 'expected a fraction between 0 and 1' })
    .default(0.2),
  TZ: timeZone.default('UTC'),
  DIGESTS_DIR: optionalText,
  AUTO_SEND_CRON: optionalText,
  AUTO_SEND_LIST: optionalText,

  // web
  PORT: tcpPort().default(3000),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  // `digestmail worker` answers GET /healthz on this port (on HOST) for container health checks; off when unset.
  WORKER_HEALTH_PORT: tcpPort().optional(),
  /**
   * /metrics is not public: it is served on the web port only to a scraper that sends this token
   * (`Authorization: Bearer …`), or on a listener of its own (METRICS_PORT, on METRICS_HOST).
   */
  METRICS_TOKEN: z
    .string()
    .trim()
    .min(16, { error: 'expected at least 16 characters of random text (openssl rand -hex 16)' })
    .optional(),
  // Web server timeouts, in seconds: a whole request, its headers, an idle kept-alive connection.
  HTTP_REQUEST_TIMEOUT: positiveInt(30),
  HTTP_HEADERS_TIMEOUT: positiveInt(10),
  HTTP_KEEPALIVE_TIMEOUT: positiveInt(5),
  METRICS_HOST: z.string().trim().min(1).default('127.0.0.1'),
  METRICS_PORT: tcpPort().optional(),
  SIGNUP_LIMIT_PER_IP: positiveInt(10),
  SIGNUP_LIMIT_PER_ADDRESS: positiveInt(3),
  /**
   * Which X-Forwarded-For hops to believe. `true` trusts every hop, which lets a client behind the
   * proxy name any address it likes (and walk past the per-IP signup limit): prefer the number of
   * proxies in front of digestmail, or their addresses.
   */
  TRUST_PROXY: z
    .string()
    .trim()
    .default('false')
    .refine(
      (v) =>
        FLAG_WORDS.has(v.toLowerCase()) ||
        /^\d{1,2}$/.test(v) ||
        v.split(',').every((part) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(part.trim())),
      {
        error:
          'expected false, true, a number of proxies (1), or proxy addresses/CIDRs (10.0.0.1,10.1.0.0/16)',
      },
    )
    .transform((v): boolean | number | string[] => {
      if (/^\d{1,2}$/.test(v)) return Number(v) === 0 ? false : Number(v);
      if (FLAG_WORDS.has(v.toLowerCase())) return FLAG_WORDS.get(v.toLowerCase()) === true;
      return v.split(',').map((part) => part.trim());
    }),

  // the editor console
  CONSOLE: z
    .string()
    .trim()
    .toLowerCase()
    .default('on')
    .refine((v) => FLAG_WORDS.has(v), { error: 'expected on or off' })
    .transform((v) => FLAG_WORDS.get(v) === true),
  /** Serve the console on a listener of its own (e.g. only on a private network) instead of PORT. */
  CONSOLE_HOST: optionalText,
  CONSOLE_PORT: tcpPort().optional(),
  CONSOLE_IDLE_HOURS: positiveNumber(12),
  /** Per-delivery click rows older than this are folded into per-link totals and deleted. */
  CLICK_RETENTION_DAYS: positiveInt(90),

  // bounces
  SNS_TOPIC_ARNS: z
    .string()
    .trim()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  SNS_CERT_HOST_PATTERN: z
    .string()
    .trim()
    .default('^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$')
    .refine(
      (v) => {
        try {
          new RegExp(v);
          return true;
        } catch {
          return false;
        }
      },
      { error: 'expected a regular expression' },
    ),
  // A bounce mailbox that serve and worker watch (IDLE, else a look every minute).
  BOUNCE_IMAP_URL: imapUrl.optional(),
  BOUNCE_IMAP_FOLDER: z.string().trim().min(1).default('Processed'),
  SOFT_BOUNCE_LIMIT: positiveInt(3),
  SOFT_BOUNCE_DAYS: positiveInt(30),
});

export type Env = z.infer<typeof envSchema>;
