import { domainToASCII } from 'node:url';

/**
 * One rule for what an address is and one canonical form for storing it, shared by the CLI, the CSV
 * import and the web form, so "Ana@Example.COM" typed on the form finds the row that an import made.
 *
 * Canonical: trimmed, lower case, the domain as ASCII (IDN → punycode A-labels). Only dot-atom local
 * parts in ASCII are accepted: quoted local parts and SMTPUTF8 mailboxes are legal but so rare in
 * newsletters, and so badly supported by relays, that accepting them would mostly produce bounces.
 */

export type AddressCheck = { ok: true; email: string } | { ok: false; reason: string };

const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const ASCII_DOMAIN = /^[a-z0-9.-]+$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const CONTROL_OR_SPACE = /[\s\u0000-\u001f\u007f]/;

export function checkEmail(input: string): AddressCheck {
  const value = input.trim();
  if (value === '') return { ok: false, reason: 'empty address' };
  if (CONTROL_OR_SPACE.test(value))
    return { ok: false, reason: 'address contains spaces or control characters' };
  const at = value.lastIndexOf('@');
  if (at < 0) return { ok: false, reason: 'address has no @' };
  if (value.indexOf('@') !== at) return { ok: false, reason: 'address has more than one @' };

  const local = value.slice(0, at).toLowerCase();
  const rawDomain = value.slice(at + 1);
  if (local.length === 0) return { ok: false, reason: 'address has nothing before the @' };
  if (local.length > 64) return { ok: false, reason: 'the part before the @ is longer than 64 characters' };
  if (!LOCAL_PART.test(local))
    return { ok: false, reason: 'the part before the @ is not a valid mailbox name' };

  if (rawDomain.length === 0) return { ok: false, reason: 'address has no domain after the @' };
  if (rawDomain.endsWith('.')) return { ok: false, reason: 'domain ends with a dot' };
  const lowered = rawDomain.toLowerCase();
  const domain = ASCII_DOMAIN.test(lowered) ? lowered : domainToASCII(lowered);
  if (!domain) return { ok: false, reason: 'domain is not a valid internationalised domain name' };
  const labels = domain.split('.');
  if (labels.length < 2) return { ok: false, reason: 'domain has no dot (like a@b)' };
  for (const label of labels) {
    if (!LABEL.test(label)) return { ok: false, reason: `domain label "${label}" is not valid` };
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return { ok: false, reason: 'domain ends in a number' };

  const email = `${local}@${domain}`;
  if (email.length > 254) return { ok: false, reason: 'address is longer than 254 characters' };
  return { ok: true, email };
}

/** Hides most of an address for logs at info level, where addresses must not appear. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return '***';
  return `${email[0]}***@${email.slice(at + 1)}`;
}

/**
 * SES reports the address as it was sent, possibly as `"Name" <a@b>`; we store addresses canonical.
 * An address our own rules would not accept is still recorded (lower-cased): it was mailed, so it
 * must be suppressible.
 */
export function canonical(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const bare = value.match(/<([^<>]+)>\s*$/)?.[1] ?? value;
  const checked = checkEmail(bare);
  if (checked.ok) return checked.email;
  const lowered = bare.trim().toLowerCase();
  return lowered.includes('@') && lowered.length <= 320 ? lowered : undefined;
}
