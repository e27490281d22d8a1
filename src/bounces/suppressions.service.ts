import type { Kysely } from 'kysely';
import { invalid, notFound } from '../core/errors.ts';
import type { Database, SuppressionReason, SuppressionRow } from '../db/db.types.ts';
import { requireEmail } from '../subscriptions/subscribers.service.ts';
import { SuppressionsRepository } from './suppressions.repository.ts';

export const SUPPRESSION_REASONS: readonly SuppressionReason[] = [
  'hard_bounce',
  'soft_bounce_limit',
  'complaint',
  'erased',
  'manual',
  'unsubscribed',
];

export function parseSuppressionReason(value: string): SuppressionReason {
  if (!(SUPPRESSION_REASONS as readonly string[]).includes(value)) {
    throw invalid(
      'suppressions.reason_invalid',
      `reason "${value}" is not one of ${SUPPRESSION_REASONS.join(', ')}`,
    );
  }
  return value as SuppressionReason;
}

/**
 * The operator's view of the suppression list. Addresses are taken in any case and stored canonical,
 * so `Ana@Example.org` and `ana@example.org` are one entry. Enqueue and claim read the same table, so
 * an address added here receives nothing more, including from an issue already being sent.
 */
export class SuppressionsService {
  private readonly repo: SuppressionsRepository;

  constructor(db: Kysely<Database>) {
    this.repo = new SuppressionsRepository(db);
  }

  list(): Promise<SuppressionRow[]> {
    return this.repo.all();
  }

  page(limit: number, offset: number): Promise<SuppressionRow[]> {
    return this.repo.page(limit, offset);
  }

  recentEvents(limit = 20) {
    return this.repo.recentEvents(limit);
  }

  add(
    emailInput: string,
    reason: SuppressionReason = 'manual',
    note?: string,
  ): Promise<{ row: SuppressionRow; created: boolean }> {
    return this.repo.add(requireEmail(emailInput), reason, note?.trim() || null);
  }

  /**
   * Takes an address off the list. It does not re-subscribe anyone: a reader who complained or was
   * unsubscribed stays unsubscribed until they sign up again.
   */
  async remove(emailInput: string): Promise<SuppressionRow> {
    const email = requireEmail(emailInput);
    const removed = await this.repo.remove(email);
    if (!removed) throw notFound('suppressions.not_found', `${email} is not on the suppression list`);
    return removed;
  }
}
