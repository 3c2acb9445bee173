// The clock that task expiry runs on: the system clock, or, in tests only, the system clock moved forward
// by an offset a test writes to a file, so an expiry test advances time instead of waiting for it.
import { readFileSync, watch, watchFile, unwatchFile, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface Clock {
  /** Epoch milliseconds. Never runs backwards. */
  now(): number;
  /** Runs `fn` once this clock reaches `time` (soon, when it already has); the returned function cancels it. */
  at(time: number, fn: () => void): () => void;
  /** Stops whatever the clock watches; pending `at` callbacks are dropped. */
  close(): void;
}

/** The variable naming a test clock's file; honoured only when NODE_ENV is `test` as well. */
export const TEST_CLOCK_ENV = 'MCP_WARDEN_TEST_CLOCK';
/** setTimeout's longest delay; a longer one would fire at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;

interface Pending {
  time: number;
  fn: () => void;
  timer?: NodeJS.Timeout;
}

/** `at` for a clock whose `now` moves with real time (and, for the test clock, jumps forward). */
class Timers {
  private readonly pending = new Set<Pending>();

  constructor(private readonly now: () => number) {}

  at(time: number, fn: () => void): () => void {
    const entry: Pending = { time, fn };
    this.pending.add(entry);
    this.arm(entry);
    return () => this.cancel(entry);
  }

  /** Runs every callback whose time has come (after the clock jumped). */
  runDue(): void {
    const now = this.now();
    for (const entry of [...this.pending]) if (entry.time <= now) this.fire(entry);
  }

  clear(): void {
    for (const entry of [...this.pending]) this.cancel(entry);
  }

  private arm(entry: Pending): void {
    const delay = Math.min(Math.max(0, entry.time - this.now()), MAX_DELAY_MS);
    entry.timer = setTimeout(() => (this.now() >= entry.time ? this.fire(entry) : this.arm(entry)), delay);
    entry.timer.unref();
  }

  private fire(entry: Pending): void {
    if (!this.pending.has(entry)) return;
    this.cancel(entry);
    entry.fn();
  }

  private cancel(entry: Pending): void {
    clearTimeout(entry.timer);
    this.pending.delete(entry);
  }
}

/** The system clock. */
export function systemClock(): Clock {
  const timers = new Timers(Date.now);
  return { now: Date.now, at: (time, fn) => timers.at(time, fn), close: () => timers.clear() };
}

/**
 * The system clock plus the whole milliseconds written in `file` (missing or empty: 0). The offset only
 * grows: a smaller or unreadable value is ignored, so time never runs backwards. The file is re-read on
 * every `now()` and whenever it changes, and callbacks whose time has come then run at once, so a test
 * writes a larger offset and waits for what expiry causes (a list_changed), never for a timer.
 */
export function fileClock(file: string): Clock {
  let offset = 0;
  const refresh = (): number => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch {
      return offset;
    }
    if (/^\d{1,15}$/.test(text)) offset = Math.max(offset, Number(text));
    return offset;
  };
  let last = 0;
  const now = (): number => (last = Math.max(last, Date.now() + refresh()));
  const timers = new Timers(now);
  let watcher: FSWatcher | undefined;
  const changed = (): void => timers.runDue();
  try {
    watcher = watch(dirname(file), (_event, name) => {
      if (name === null || name === basename(file)) changed();
    });
    watcher.unref();
  } catch {
    watchFile(file, { interval: 50, persistent: false }, changed);
  }
  return {
    now,
    at: (time, fn) => timers.at(time, fn),
    close() {
      timers.clear();
      if (watcher) watcher.close();
      else unwatchFile(file, changed);
    },
  };
}

/**
 * The clock for this process: the system clock, unless MCP_WARDEN_TEST_CLOCK names a file AND
 * NODE_ENV is `test`, so a stray variable in production cannot move the gateway's time. Either way
 * with the variable set, `say` is given one line for the log.
 */
export function clockFromEnv(env: NodeJS.ProcessEnv, say: (message: string) => void): Clock {
  const file = env[TEST_CLOCK_ENV];
  if (file === undefined || file === '') return systemClock();
  if (env.NODE_ENV !== 'test') {
    say(`${TEST_CLOCK_ENV} is ignored: a test clock is honoured only with NODE_ENV=test; the system clock is in force`);
    return systemClock();
  }
  say(
    `test clock in force (${TEST_CLOCK_ENV}=${file}, NODE_ENV=test): task expiry runs on the system clock plus the offset in that file`,
  );
  return fileClock(file);
}
