// The circuit breaker's states with an injected clock: closed → open after repeated failures or one
// connect timeout, half-open while the owner's probe runs, closed by a success, longer open periods
// after each failed probe.
import { describe, expect, it } from 'vitest';
import { CircuitBreaker, FAILURE_THRESHOLD } from '../../src/downstream/breaker.js';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('CircuitBreaker', () => {
  it('opens after FAILURE_THRESHOLD consecutive errors, not before, and a success resets the count', () => {
    const time = clock();
    const breaker = new CircuitBreaker(time.now);
    for (let i = 1; i < FAILURE_THRESHOLD; i++) breaker.failure('error', 'refused');
    expect(breaker.state).toBe('closed');
    breaker.success();
    for (let i = 1; i < FAILURE_THRESHOLD; i++) breaker.failure('error', 'refused');
    expect(breaker.state).toBe('closed');
    breaker.failure('error', 'refused');
    expect(breaker.state).toBe('open');
    expect(breaker.allowsConnect).toBe(false);
    expect(breaker.reason).toMatch(/circuit breaker open after 3 failed connects \(refused\); next try in 1000 ms/);
  });

  it('opens at once on a connect timeout', () => {
    const breaker = new CircuitBreaker(clock().now);
    breaker.failure('timeout', 'Request timed out');
    expect(breaker.snapshot()).toMatchObject({ state: 'open', failures: 1, lastError: 'Request timed out' });
  });

  it('half-open during the probe; a failed probe doubles the open period (capped at 60 s), a good one closes it', () => {
    const time = clock();
    const breaker = new CircuitBreaker(time.now);
    const seen: string[] = [];
    breaker.onChange((snapshot) => seen.push(snapshot.state));
    breaker.failure('timeout', 'stuck');
    const periods: number[] = [];
    for (let i = 0; i < 8; i++) {
      periods.push(breaker.probeDelayMs!);
      time.advance(breaker.probeDelayMs!);
      breaker.probeStarted();
      expect(breaker.state).toBe('half-open');
      expect(breaker.allowsConnect).toBe(false);
      breaker.failure('timeout', 'stuck');
    }
    expect(periods).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    breaker.probeStarted();
    breaker.success();
    expect(breaker.snapshot()).toEqual({ state: 'closed', failures: 0, since: time.now() });
    expect(seen.slice(0, 3)).toEqual(['open', 'half-open', 'open']);
    expect(seen.at(-1)).toBe('closed');
    // After closing, the period starts again at 1 s.
    breaker.failure('timeout', 'stuck');
    expect(breaker.probeDelayMs).toBe(1_000);
  });
});
