import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifySesBounce } from '../src/bounces/bounce.classifier.ts';
import { BouncesService } from '../src/bounces/bounces.service.ts';
import { loadConfig } from '../src/config/config.loader.ts';
import { MessageBuilder, parseVerpAddress } from '../src/render/message.builder.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { seedIssue } from './bounces.seed.ts';
import { runCliInProcess } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/test-db.ts';

const SECRET = 'bounces-ls-secret-0123456789abcdef0123456';
let database: TestDatabase;
let service: BouncesService;
let builder: MessageBuilder;

beforeAll(async () => {
  database = await createTestDatabase('postgres');
  builder = new MessageBuilder(
    loadConfig({
      SECRET_KEY: SECRET,
      DATA_DIR: '/tmp',
      MAIL_FROM: 'n <news@news.example.org>',
      VERP: 'true',
    }),
    new TokenSigner(SECRET),
  );
  service = new BouncesService(database.db, { softBounceLimit: 5, softBounceDays: 30 }, (a) =>
    parseVerpAddress(a, SECRET),
  );
});
afterAll(async () => database?.close());

/** An Exim-style plain-text bounce to the delivery's VERP address, with the remote server's words. */
function eximBounce(verp: string, recipient: string, reply: string): Buffer {
  return Buffer.from(
    [
      'From: Mail Delivery System <Mailer-Daemon@mx.example.net>',
      `To: ${verp}`,
      'Subject: Mail delivery failed: returning message to sender',
      `Message-Id: <E1-${Math.random().toString(36).slice(2)}@mx.example.net>`,
      'Auto-Submitted: auto-replied',
      `X-Failed-Recipients: ${recipient}`,
      '',
      'This message was created automatically by mail delivery software.',
      '',
      'A message that you sent could not be delivered to one or more of its',
      'recipients. This is a permanent error. The following address(es) failed:',
      '',
      `  ${recipient}`,
      `    host mx.example.com [192.0.2.1]: ${reply}`,
      '',
    ].join('\r\n'),
    'utf8',
  );
}

describe('digestmail bounces ls', () => {
  it('lists recent bounces with reason, status and diagnostic; filters by issue and reason; strips control characters', async () => {
    const { issueId, deliveries } = await seedIssue(database.db, [
      'ls-gone@example.net',
      'ls-blocked@example.net',
    ]);
    const [gone, blocked] = deliveries;
    await service.ingestMail(
      eximBounce(
        builder.envelopeFrom(gone!.id),
        gone!.email,
        '550 5.1.1 <ls-gone@example.net>: User unknown',
      ),
    );
    await service.ingestMail(
      eximBounce(
        builder.envelopeFrom(blocked!.id),
        blocked!.email,
        '550 5.7.1 Service unavailable; client host [198.51.100.7] blocked using zen.spamhaus.org \u001b]0;pwned\u0007',
      ),
    );
    const env = { DATABASE_URL: database.url!, SECRET_KEY: SECRET };

    const json = await runCliInProcess(['bounces', 'ls', '--issue', String(issueId), '--json'], env);
    expect(json.stderr).toBe('');
    const rows = JSON.parse(json.stdout) as {
      email: string;
      reason: string;
      status: string;
      type: string;
      diagnostic: string;
    }[];
    expect(rows.map((r) => [r.email, r.type, r.reason, r.status]).sort()).toEqual([
      ['ls-blocked@example.net', 'soft_bounce', 'blocked', '5.7.1'],
      ['ls-gone@example.net', 'hard_bounce', 'userunknown', '5.1.1'],
    ]);
    const blockedRow = rows.find((r) => r.reason === 'blocked')!;
    expect(blockedRow.diagnostic).toContain('zen.spamhaus.org');
    expect([...blockedRow.diagnostic].filter((c) => c.charCodeAt(0) < 32)).toEqual([]);

    const onlyBlocked = await runCliInProcess(['bounces', 'ls', '--reason', 'blocked'], env);
    expect(onlyBlocked.code).toBe(0);
    expect(onlyBlocked.stdout).toMatch(/reason\s+status\s+diagnostic/);
    expect(onlyBlocked.stdout).toContain('ls-blocked@example.net');
    expect(onlyBlocked.stdout).not.toContain('ls-gone@example.net');
    expect(onlyBlocked.stdout).not.toContain('\u001b');

    const bad = await runCliInProcess(['bounces', 'ls', '--reason', 'nosuchreason'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('unknown reason "nosuchreason"');
  }, 120_000);
});

describe('SES bounce types on the same taxonomy', () => {
  it('maps types and subtypes: only a bounce about the address suppresses, whatever SES calls Permanent', () => {
    expect(
      classifySesBounce({
        bounceType: 'Permanent',
        subType: 'General',
        status: '5.1.1',
        diagnostic: 'smtp; 550 5.1.1 user unknown',
      }),
    ).toMatchObject({ reason: 'userunknown', suppresses: true });
    expect(classifySesBounce({ bounceType: 'Permanent', subType: 'NoEmail' })).toMatchObject({
      reason: 'userunknown',
      suppresses: true,
    });
    expect(
      classifySesBounce({
        bounceType: 'Permanent',
        subType: 'General',
        status: '5.7.1',
        diagnostic: 'smtp; 550 5.7.1 Message rejected as spam by Content Filtering',
      }),
    ).toMatchObject({ reason: 'spamdetected', suppresses: false, status: '5.7.1' });
    expect(classifySesBounce({ bounceType: 'Permanent', subType: 'Suppressed' })).toMatchObject({
      reason: 'userunknown',
      suppresses: true,
    });
    expect(
      classifySesBounce({ bounceType: 'Transient', subType: 'MailboxFull', status: '4.2.2' }),
    ).toMatchObject({ reason: 'mailboxfull', suppresses: false });
    expect(classifySesBounce({ bounceType: 'Transient', subType: 'MessageTooLarge' })).toMatchObject({
      reason: 'mesgtoobig',
      suppresses: false,
    });
    expect(
      classifySesBounce({
        bounceType: 'Transient',
        subType: 'General',
        status: '5.1.1',
        diagnostic: '550 5.1.1 user unknown',
      }),
    ).toMatchObject({ suppresses: false });
  });
});
