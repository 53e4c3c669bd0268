/**
 * How often and how patiently a step is retried. Attempt numbers start at 1; `attempts` is the total number of
 * attempts, so `attempts: 3` means up to two retries.
 */
export interface RetryPolicy {
  readonly attempts: number;
  readonly delayMs: number;
  readonly backoff: 'fixed' | 'linear' | 'exponential';
  readonly maxDelayMs: number;
  /** 0..1: each delay is moved by up to this fraction, randomly, so retries of many steps do not stampede. */
  readonly jitter: number;
}

export const NO_RETRY: RetryPolicy = Object.freeze({ attempts: 1, delayMs: 0, backoff: 'fixed', maxDelayMs: 0, jitter: 0 });

/** The wait before attempt `attempt + 1`, after attempt `attempt` failed. `random` is injected for tests. */
export function retryDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base =
    policy.backoff === 'fixed' ? policy.delayMs : policy.backoff === 'linear' ? policy.delayMs * attempt : policy.delayMs * 2 ** (attempt - 1);
  const capped = policy.maxDelayMs > 0 ? Math.min(base, policy.maxDelayMs) : base;
  if (policy.jitter <= 0) return capped;
  const spread = capped * policy.jitter;
  return Math.max(0, Math.round(capped - spread + random() * 2 * spread));
}
