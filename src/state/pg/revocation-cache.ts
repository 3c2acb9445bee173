import type { RevocationSnapshot, SharedState } from '../shared.js';
import { describePgError } from './pool.js';
import { StoreFollower } from './follower.js';
import type { PgStoreLink } from './link.js';

/** Tables whose writes change what the revocation snapshot holds. */
const REVOCATION_TABLES = new Set(['agent_revocations', 'token_revocations', 'task_revocations', 'tasks']);

export interface RevocationCacheOptions {
  /** The polling fallback: the snapshot is re-read this often even when nothing was announced. */
  pollMs?: number;
  /** The clock revoked tasks' expiry is compared with (the task clock). */
  now: () => number;
  /** Told when a re-read fails (the link reports the outage itself). */
  onError?: (message: string) => void;
}

/**
 * One replica's copy of the revocation snapshot on PostgreSQL, so the call path reads it synchronously.
 * Re-read when the link hears a change to a revocation table (NOTIFY from any replica or the CLI), after
 * a reconnect (what was announced while away was not heard), and every `pollMs` as a fallback. Fails
 * closed: while the link is down, or until the snapshot has been re-read since it came back, `unavailable`
 * says why and `snapshot` throws.
 */
export class RevocationCache {
  private current: RevocationSnapshot | undefined;
  private generation = 0;
  /** Set when the link drops; cleared by the first re-read begun and ended with no drop in between. */
  private stale = true;
  /** Counts drops, so a read that straddled one does not clear `stale`. */
  private drops = 0;
  private lastError: string | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly follower: StoreFollower;

  constructor(
    private readonly shared: SharedState,
    private readonly link: PgStoreLink,
    private readonly options: RevocationCacheOptions,
  ) {
    this.follower = new StoreFollower(link, {
      tables: REVOCATION_TABLES,
      ...(options.pollMs !== undefined && { pollMs: options.pollMs }),
      read: () => this.read(false),
    });
  }

  /** Reads the snapshot once (a failure is a start-up error) and starts following changes. */
  async start(): Promise<void> {
    this.unsubscribe = this.link.onStatus((up) => {
      if (up) return;
      this.stale = true;
      this.drops += 1;
    });
    await this.read(true);
    this.follower.start();
  }

  /** Why the snapshot cannot be trusted now, or undefined when it can. */
  unavailable(): string | undefined {
    if (!this.link.up) return `shared store down: ${this.link.health().error ?? 'unreachable'}`;
    if (this.stale || !this.current)
      return `shared store reconnected; revocations not re-read yet${this.lastError ? ` (${this.lastError})` : ''}`;
    return undefined;
  }

  /** Changes whenever a re-read brought a new snapshot. Throws while `unavailable`. */
  version(): number {
    const why = this.unavailable();
    if (why !== undefined) throw new Error(why);
    return this.generation;
  }

  snapshot(): RevocationSnapshot {
    const why = this.unavailable();
    if (why !== undefined || !this.current) throw new Error(why);
    return this.current;
  }

  /** Called after every re-read that changed the generation. */
  onRefresh(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads now; concurrent callers share one read, and a change heard during it reads once more. */
  refresh(): Promise<void> {
    return this.follower.refresh();
  }

  close(): void {
    this.follower.close();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private async read(rethrow: boolean): Promise<void> {
    // Taken before the read: a drop during it leaves the cache stale.
    const drops = this.drops;
    const began = this.link.up;
    try {
      const snapshot = await this.shared.revocations(this.options.now());
      this.current = snapshot;
      this.generation += 1;
      this.lastError = undefined;
      if (began && this.link.up && drops === this.drops) this.stale = false;
      for (const listener of this.listeners) listener();
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : describePgError(error);
      this.options.onError?.(this.lastError);
      if (rethrow) throw error;
    }
  }
}
