import type { PgStoreLink } from './link.js';

export interface FollowerOptions {
  /** The tables whose writes call for a re-read (their NOTIFY payload). */
  tables: ReadonlySet<string>;
  /** The polling fallback: re-read this often even when nothing was announced. */
  pollMs?: number;
  /** The re-read itself; a rejection is reported to `onError` and tried again at the next occasion. */
  read: () => Promise<void>;
  onError?: (message: string) => void;
}

/**
 * One replica following some shared tables: `read` runs when any replica (or the CLI) announces a write
 * to one of them (NOTIFY), when the link comes back up and resyncs (announcements made while it was down
 * were not heard), and every `pollMs` as a fallback. Concurrent triggers share one read; a change heard
 * during a read causes one more, so the last read always began after the last change announced.
 */
export class StoreFollower {
  private reading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly link: PgStoreLink,
    private readonly options: FollowerOptions,
  ) {}

  /** Starts following (the caller makes its first read itself, where a failure stops the start). */
  start(): void {
    this.unsubscribe.push(
      this.link.onChange((table) => {
        if (this.options.tables.has(table)) void this.refresh();
      }),
      this.link.onResync(() => void this.refresh()),
      this.link.onStatus((up) => {
        if (up) void this.refresh();
      }),
    );
    this.schedule();
  }

  /** Re-reads now; concurrent callers share one read, and a change heard during it reads once more. */
  refresh(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        await this.options
          .read()
          .catch((error: unknown) => this.options.onError?.(error instanceof Error ? error.message : String(error)));
      } while (this.again);
    })().finally(() => (this.reading = undefined));
    return this.reading;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.refresh().finally(() => {
        if (this.timer) this.schedule();
      });
    }, this.options.pollMs ?? 1_000);
    this.timer.unref();
  }
}
