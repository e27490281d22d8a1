/** The longest a transient failure is left to rest before the next attempt. */
const MAX_DELAY_MS = 60 * 60 * 1000;

/**
 * Exponential backoff with jitter: base × 2^(attempt−1), capped at an hour, then scaled by a random
 * factor in [0.5, 1). The jitter spreads the retries of a batch that failed together (a relay that
 * hiccupped) so they do not all come back in the same second.
 */
export function retryDelayMs(
  attempt: number,
  baseSeconds: number,
  random: () => number = Math.random,
): number {
  const exponential = baseSeconds * 1000 * 2 ** Math.max(0, attempt - 1);
  return Math.round(Math.min(MAX_DELAY_MS, exponential) * (0.5 + random() * 0.5));
}
