import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../src/delivery/retry.policy.ts';
import { SendRateRepository } from '../src/delivery/send-rate.repository.ts';
import { describeEachEngine } from './helpers/test-db.ts';

describe('retry backoff', () => {
  it('doubles per attempt, with jitter between half and all of the step, capped at an hour', () => {
    const low = () => 0;
    const high = () => 0.999_999;
    expect(retryDelayMs(1, 30, low)).toBe(15_000);
    expect(retryDelayMs(1, 30, high)).toBe(30_000);
    expect(retryDelayMs(3, 30, low)).toBe(60_000);
    expect(retryDelayMs(3, 30, high)).toBe(120_000);
    expect(retryDelayMs(30, 30, high)).toBeLessThanOrEqual(3_600_000);
    expect(retryDelayMs(30, 30, high)).toBeGreaterThan(3_599_000);
    expect(retryDelayMs(30, 30, low)).toBe(1_800_000);
    const spread = new Set(Array.from({ length: 50 }, () => retryDelayMs(2, 30)));
    expect(spread.size).toBeGreaterThan(10);
    for (const delay of spread) {
      expect(delay).toBeGreaterThanOrEqual(30_000);
      expect(delay).toBeLessThanOrEqual(60_000);
    }
  });
});

describeEachEngine('the shared send-rate bucket', (current) => {
  /**
   * Sets when the bucket was last refilled. A time in the future stops the clock for the bucket (the
   * elapsed time it reads is never negative), so what a take grants does not depend on how long the
   * machine took between two statements.
   */
  const refreshedAt = (at: Date, name = 't') =>
    current()
      .db.updateTable('send_rate_buckets')
      .set({ refreshed_at: at })
      .where('name', '=', name)
      .execute();
  const hour = 3_600_000;

  it('never hands out more than the bucket holds, and a throttle halves the rate for everyone', async () => {
    const repo = new SendRateRepository(current().db);
    await repo.ensure('t', 10);
    // Filled for "a long time": capped at the burst, not at rate × elapsed.
    await refreshedAt(new Date(Date.now() - hour));
    const first = await repo.take('t', 1000, 100, 25);
    expect(first.granted).toBe(25);
    expect(first.effectiveRate).toBe(100);

    await refreshedAt(new Date(Date.now() + hour));
    const second = await repo.take('t', 1000, 100, 25);
    expect(second.granted).toBe(0);

    await repo.slowDown('t');
    const slowed = await repo.take('t', 1, 100, 25);
    expect(slowed.effectiveRate).toBe(50);
  });

  it('a throttled bucket climbs back to the full rate by itself, and no higher', async () => {
    const repo = new SendRateRepository(current().db);
    await repo.ensure('r', 10);
    await repo.slowDown('r');
    await refreshedAt(new Date(Date.now() - hour), 'r');
    const recovered = await repo.take('r', 1, 100, 25);
    expect(recovered.effectiveRate).toBe(100);
  });
});
