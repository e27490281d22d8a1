import { describe, expect, it } from 'vitest';
import { checkEmail, maskEmail } from '../src/core/email-address.ts';

describe('email addresses', () => {
  it.each([
    ['Ana@Example.COM', 'ana@example.com'],
    ['  ana@example.com  ', 'ana@example.com'],
    ['user@Bücher.DE', 'user@xn--bcher-kva.de'],
    ['user@xn--bcher-kva.de', 'user@xn--bcher-kva.de'],
    ['用户@例子.中国'.replace('用户', 'li'), 'li@xn--fsqu00a.xn--fiqs8s'],
    ["o'brien+news@mail.example.co.uk", "o'brien+news@mail.example.co.uk"],
  ])('%s is stored as %s', (input, canonical) => {
    expect(checkEmail(input)).toEqual({ ok: true, email: canonical });
  });

  it.each([
    ['', /empty/],
    ['no-at-sign', /no @/],
    ['a b@example.com', /spaces/],
    ['ana@exa mple.com', /spaces/],
    ['ana@example.com\r\nBcc: victim@example.org', /control|spaces/],
    ['ana\n@example.com', /control|spaces/],
    ['a@b', /no dot/],
    ['ana@example.com.', /ends with a dot/],
    ['@example.com', /nothing before/],
    ['ana@', /no domain/],
    ['a@@example.com', /more than one @/],
    ['.ana@example.com', /not a valid mailbox/],
    ['an..a@example.com', /not a valid mailbox/],
    ['ana@-example.com', /label/],
    ['ana@example.123', /ends in a number/],
    [`${'x'.repeat(65)}@example.com`, /longer than 64/],
    ['名字@example.com', /not a valid mailbox/],
  ])('%j is refused (%s)', (input, reason) => {
    const result = checkEmail(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('masks addresses for logs', () => {
    expect(maskEmail('ana@example.com')).toBe('a***@example.com');
  });
});
