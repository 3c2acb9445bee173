/** Restart delays: 250 ms doubling to 30 s; a connection that stayed up for a minute starts again at 250 ms. */
export class Backoff {
  private failures = 0;
  private upSince: number | undefined;

  constructor(
    private readonly baseMs = 250,
    private readonly maxMs = 30_000,
    private readonly stableMs = 60_000,
  ) {}

  /** Marks the connection as up at `now`. */
  up(now: number): void {
    this.upSince = now;
  }

  /** The delay before the next attempt after a failure at `now`. */
  next(now: number): number {
    if (this.upSince !== undefined && now - this.upSince >= this.stableMs) this.failures = 0;
    this.upSince = undefined;
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** this.failures);
    this.failures += 1;
    return delay;
  }

  get attempts(): number {
    return this.failures;
  }
}
