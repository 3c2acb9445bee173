import type { RateLimit } from './schema.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
  /** Milliseconds for an empty bucket to fill up: after that long idle the bucket can be forgotten. */
  fullAfterMs: number;
}

const SWEEP_EVERY = 1_024;
const MAX_BUCKETS = 100_000;

/**
 * Token buckets per key (principal, rule and tool): a burst of up to `calls`, refilled evenly over
 * `perSeconds`. In memory, per gateway process. The clock is passed in.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private takes = 0;

  /**
   * Takes one token from each bucket, or none: when any bucket is empty nothing is consumed and the
   * answer is how long to wait (milliseconds) until every bucket has a token again.
   */
  take(
    keys: readonly { key: string; limit: RateLimit }[],
    now: number,
  ): { ok: true } | { ok: false; retryAfterMs: number } {
    let wait = 0;
    const buckets = keys.map(({ key, limit }) => {
      const bucket = this.refill(key, limit, now);
      if (bucket.tokens < 1) wait = Math.max(wait, ((1 - bucket.tokens) * limit.perSeconds * 1000) / limit.calls);
      return bucket;
    });
    if (wait > 0) return { ok: false, retryAfterMs: Math.ceil(wait) };
    for (const bucket of buckets) bucket.tokens -= 1;
    if (++this.takes % SWEEP_EVERY === 0 || this.buckets.size > MAX_BUCKETS) this.sweep(now);
    return { ok: true };
  }

  get size(): number {
    return this.buckets.size;
  }

  private refill(key: string, limit: RateLimit, now: number): Bucket {
    const fullAfterMs = limit.perSeconds * 1000;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: limit.calls, updatedAt: now, fullAfterMs };
      this.buckets.set(key, bucket);
      return bucket;
    }
    const elapsed = Math.max(0, now - bucket.updatedAt);
    bucket.tokens = Math.min(limit.calls, bucket.tokens + (elapsed * limit.calls) / fullAfterMs);
    bucket.updatedAt = now;
    bucket.fullAfterMs = fullAfterMs;
    return bucket;
  }

  /** Forgets buckets that have refilled completely: they would start full again anyway. */
  private sweep(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.updatedAt >= bucket.fullAfterMs) this.buckets.delete(key);
    }
  }
}
