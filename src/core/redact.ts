/**
 * Hides the password of a URL (`imaps://user:secret@host/INBOX` → `imaps://user:***@host/INBOX`)
 * before it reaches a message or a log line. Anything that does not parse as a URL with userinfo is
 * searched for `scheme://user:password@` by hand, so a half-typed URL is masked too.
 */
export function maskUrlPassword(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/]*@/gi, '$1***@');
}

/** Replaces every occurrence of a known secret (a password taken from a URL) in free text. */
export function maskSecret(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return text.split(secret).join('***');
}
