import pg from 'pg';
import { describePgError, type PgPool } from './pool.js';
import { STATE_CHANNEL } from './schema.js';

/** What /healthz says of the store. */
export interface StoreHealth {
  kind: 'sqlite' | 'postgres';
  status: 'up' | 'down';
  /** Why it is down (no URL, no driver internals). */
  error?: string;
}

export interface StoreLinkOptions {
  /** Connection settings for the LISTEN connection (the pool's own). */
  client: pg.ClientConfig;
  pool: PgPool;
  /** How often the pool is pinged while up, and reconnecting is tried while down. */
  checkEveryMs?: number;
}

/**
 * This replica's live link to PostgreSQL: one connection LISTENing on the state channel, and a ping on
 * the pool. A change any replica (or the CLI) commits is announced to `onChange` listeners with the
 * table's name; when the link comes back after a loss, `onResync` listeners re-read everything (changes
 * announced while it was down were not heard: the polling fallback). `health()` is what /healthz shows;
 * callers that must fail closed check `up`.
 */
export class PgStoreLink {
  private listener: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastError: string | undefined = 'not connected yet';
  private readonly changeListeners = new Set<(table: string) => void>();
  private readonly resyncListeners = new Set<() => void>();
  private readonly upListeners = new Set<(up: boolean) => void>();
  private checking: Promise<void> | undefined;
  private everUp = false;

  constructor(private readonly options: StoreLinkOptions) {}

  get up(): boolean {
    return this.lastError === undefined;
  }

  health(): StoreHealth {
    return this.up ? { kind: 'postgres', status: 'up' } : { kind: 'postgres', status: 'down', error: this.lastError! };
  }

  onChange(listener: (table: string) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  /** Called with `true` when the link comes up and `false` when it is lost. */
  onStatus(listener: (up: boolean) => void): () => void {
    this.upListeners.add(listener);
    return () => this.upListeners.delete(listener);
  }

  /** Connects (resolves once the first attempt is done, up or not) and keeps checking. */
  async start(): Promise<void> {
    await this.check();
    this.schedule();
  }

  /** Checks now (a ping, and LISTEN reconnected if it was lost). Concurrent callers share one check. */
  check(): Promise<void> {
    this.checking ??= this.runCheck().finally(() => (this.checking = undefined));
    return this.checking;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.check().finally(() => this.schedule()), this.options.checkEveryMs ?? 1_000);
    this.timer.unref();
  }

  private async runCheck(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.listener) await this.listen();
      await this.options.pool.query('SELECT 1');
      this.setUp();
    } catch (error) {
      this.setDown(describePgError(error));
    }
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(this.options.client);
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, undefined));
    client.on('notification', (message) => {
      if (message.channel !== STATE_CHANNEL) return;
      for (const listener of this.changeListeners) listener(message.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${STATE_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.listener !== client) return;
    this.listener = undefined;
    client.end().catch(() => undefined);
    if (!this.closed) {
      this.setDown(describePgError(error));
      // Try again at once: a restart of the server is the common case.
      void this.check();
    }
  }

  private setUp(): void {
    if (this.up) return;
    this.lastError = undefined;
    for (const listener of this.upListeners) listener(true);
    // Whatever changed while nobody listened must be read again; the first connection has nothing to catch up.
    if (this.everUp) for (const listener of this.resyncListeners) listener();
    this.everUp = true;
  }

  private setDown(reason: string): void {
    const wasUp = this.up;
    this.lastError = reason;
    if (wasUp) for (const listener of this.upListeners) listener(false);
  }
}
