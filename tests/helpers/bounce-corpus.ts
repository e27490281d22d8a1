import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClassifiedMail } from '../../src/bounces/bounce.classifier.ts';

/**
 * The corpus of real bounce messages in tests/fixtures/bounces (see its README for provenance):
 * each sample with the recipient, status and reason expected for each failed recipient.
 */
export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bounces');

export interface Expected {
  recipient: string;
  status: string;
  reason: string;
  feedbackType?: string;
}

export interface Sample {
  file: string;
  server: string;
  source: { repository: string; path: string; commit: string; licence: string };
  expectedFrom: { repository: string; path: string; commit: string; licence: string };
  recipientFrom: string;
  expected: Expected[];
}

export function loadCorpus(): { sample: Sample; raw: Buffer }[] {
  const samples = JSON.parse(readFileSync(join(CORPUS_DIR, 'corpus.json'), 'utf8')) as Sample[];
  return samples.map((sample) => ({ sample, raw: readFileSync(join(CORPUS_DIR, 'corpus', sample.file)) }));
}

/** The reasons that are about the address: the only ones that may suppress it. */
export const ADDRESS_REASONS = new Set(['userunknown', 'hostunknown', 'hasmoved', 'notaccept']);

export interface Found {
  recipient: string | undefined;
  status: string;
  reason: string;
}

/** What the classifier said for each recipient, in the shape of the expectations. */
export function found(result: ClassifiedMail): Found[] {
  if (result.kind === 'bounce')
    return result.recipients.map((r) => ({ recipient: r.email, status: r.status, reason: r.reason }));
  if (result.kind === 'complaint')
    return (result.recipients.length > 0 ? result.recipients : [undefined]).map((recipient) => ({
      recipient,
      status: '',
      reason: 'feedback',
    }));
  if (result.kind === 'autoreply') return [{ recipient: result.from, status: '', reason: 'vacation' }];
  return [];
}

/**
 * sisimai gives a pseudo status (`5.0.9xx`, `4.0.9xx`) of its own when the message carries none, and
 * `x.0.0` for "some failure of that class": there only the class (permanent or temporary) is
 * compared. Everywhere else the status must be the same.
 */
export function statusAgrees(expected: string, got: string): boolean {
  if (expected === '') return true;
  if (/^\d\.0\.(?:9\d\d|0)$/.test(expected)) return got === '' || got[0] === expected[0];
  return expected === got;
}

export interface Verdict {
  recipient: boolean;
  status: boolean;
  reason: boolean;
  /** Suppressed although the expected reason is about our mail, not the address. */
  wrongSuppression: boolean;
  got: Found | undefined;
}

export function judge(expected: Expected, results: Found[]): Verdict {
  const got =
    results.find((r) => r.recipient === expected.recipient) ??
    (results.length === 1 ? results[0] : undefined);
  const suppresses = got !== undefined && (ADDRESS_REASONS.has(got.reason) || got.reason === 'feedback');
  const expectedSuppresses = ADDRESS_REASONS.has(expected.reason) || expected.reason === 'feedback';
  return {
    recipient: got?.recipient === expected.recipient,
    status: got !== undefined && statusAgrees(expected.status, got.status),
    reason: got?.reason === expected.reason,
    wrongSuppression: suppresses && !expectedSuppresses,
    got,
  };
}
