/**
 * A circuit breaker per downstream server, shared by every connection to it.
 *
 * - closed: connections are made as usual. Consecutive connect failures are counted; the breaker
 *   opens after FAILURE_THRESHOLD of them, or at once after a connect that timed out (each one costs
 *   every session waiting on it the whole connect timeout).
 * - open: no connection is attempted; callers fail fast with the reason. After the open period
 *   (1 s doubling to 60 s with each failed probe) the owner runs one probe connection.
 * - half-open: that probe is under way; callers still fail fast. Its success closes the breaker (and
 *   resets the period), its failure opens it again for twice as long.
 *
 * Pure state and a clock: no timers, no I/O. The owner (src/gateway/gateway.ts) schedules probes.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSnapshot {
  state: BreakerState;
  /** Consecutive connect failures since the last success. */
  failures: number;
  /** When the breaker last changed state (ms since the epoch). */
  since: number;
  /** While open: when the next probe may run. */
  retryAt?: number;
  lastError?: string;
}

export type FailureKind = 'timeout' | 'error';

export const FAILURE_THRESHOLD = 3;
const BASE_OPEN_MS = 1_000;
const MAX_OPEN_MS = 60_000;

export class CircuitBreaker {
  private stateValue: BreakerState = 'closed';
  private failures = 0;
  private since: number;
  private retryAt: number | undefined;
  private openMs = BASE_OPEN_MS;
  private lastError: string | undefined;
  private readonly listeners = new Set<(snapshot: BreakerSnapshot, previous: BreakerState) => void>();

  constructor(private readonly now: () => number = Date.now) {
    this.since = now();
  }

  get state(): BreakerState {
    return this.stateValue;
  }

  /** Whether a connection may be attempted now (only while closed; the probe is the owner's). */
  get allowsConnect(): boolean {
    return this.stateValue === 'closed';
  }

  /** Why calls are refused while not closed. */
  get reason(): string {
    const retry = this.retryAt === undefined ? '' : `; next try in ${Math.max(0, this.retryAt - this.now())} ms`;
    return `circuit breaker ${this.stateValue} after ${this.failures} failed connect${this.failures === 1 ? '' : 's'} (${this.lastError ?? 'unknown'})${retry}`;
  }

  snapshot(): BreakerSnapshot {
    return {
      state: this.stateValue,
      failures: this.failures,
      since: this.since,
      ...(this.retryAt !== undefined && { retryAt: this.retryAt }),
      ...(this.lastError !== undefined && { lastError: this.lastError }),
    };
  }

  onChange(listener: (snapshot: BreakerSnapshot, previous: BreakerState) => void): void {
    this.listeners.add(listener);
  }

  success(): void {
    this.failures = 0;
    this.openMs = BASE_OPEN_MS;
    this.lastError = undefined;
    this.retryAt = undefined;
    this.move('closed');
  }

  failure(kind: FailureKind, reason: string): void {
    this.failures += 1;
    this.lastError = reason;
    if (this.stateValue === 'half-open') {
      this.openMs = Math.min(MAX_OPEN_MS, this.openMs * 2);
      this.open();
    } else if (this.stateValue === 'closed' && (kind === 'timeout' || this.failures >= FAILURE_THRESHOLD)) {
      this.open();
    }
  }

  /** Delay until the probe is due; the owner calls probeStarted() when it runs it. */
  get probeDelayMs(): number | undefined {
    return this.stateValue === 'open' && this.retryAt !== undefined
      ? Math.max(0, this.retryAt - this.now())
      : undefined;
  }

  probeStarted(): void {
    if (this.stateValue !== 'open') return;
    this.retryAt = undefined;
    this.move('half-open');
  }

  private open(): void {
    this.retryAt = this.now() + this.openMs;
    this.move('open');
  }

  private move(next: BreakerState): void {
    const previous = this.stateValue;
    if (previous === next && next !== 'open') return;
    this.stateValue = next;
    this.since = this.now();
    const snapshot = this.snapshot();
    for (const listener of this.listeners) listener(snapshot, previous);
  }
}
