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
  it('never hands out more than the bucket holds, and a throttle halves the rate for everyone', async () => {
    const repo = new SendRateRepository(current().db);
    await repo.ensure('t', 10);
    // Filled for "a long time": capped at the burst, not at rate × elapsed.
    await current()
      .db.updateTable('send_rate_buckets')
      .set({ refreshed_at: new Date(Date.now() - 3_600_000) })
      .where('name', '=', 't')
      .execute();
    const first = await repo.take('t', 1000, 100, 25);
    expect(first.granted).toBe(25);
    const second = await repo.take('t', 1000, 100, 25);
    expect(second.granted).toBeLessThan(25);
    expect(first.effectiveRate).toBe(100);

    await repo.slowDown('t');
    const slowed = await repo.take('t', 1, 100, 25);
    expect(slowed.effectiveRate).toBeLessThan(55);
    expect(slowed.effectiveRate).toBeGreaterThanOrEqual(50);
  });
});
