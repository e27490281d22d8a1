/**
 * Connection strings carry passwords (`smtp://user:pass@host`, `postgres://user:pass@host/db`).
 * Anything that prints or logs a setting or an error that may quote one passes it through
 * `maskCredentials`, so a mistyped MAIL_URL or DATABASE_URL never ends up on a terminal, in a log
 * file or in a CI transcript.
 */

// scheme://userinfo@  (also a mistyped scheme such as `smtp//` or `postgres:/`)
const URL_USERINFO = /([a-z][a-z0-9+.-]*:?\/\/?)[^\s/@"'<>]+@/gi;
// user:password@host with no scheme at all
const BARE_USERINFO = /(^|[\s"'(=])[^\s/:@"'<>()=]+:[^\s/@"'<>]+@(?=[a-z0-9[])/gi;

export function maskCredentials(text: string): string {
  return text.replace(URL_USERINFO, '$1***@').replace(BARE_USERINFO, '$1***@');
}

/**
 * pino hooks for every logger: each serialized line is masked just before it is written, so an
 * error message or a field quoting a connection string cannot leak a password into the logs.
 * The patterns stop at a double quote, so a match never crosses the JSON string it is in.
 */
export const maskingLogHooks = { streamWrite: maskCredentials } as const;
