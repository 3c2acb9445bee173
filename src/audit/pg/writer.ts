import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { WardenError } from '../../errors.js';
import type { CommitHooks } from '../backend.js';
import { rowHeader, type EntryInput } from '../chain.js';
import { HEADER_FIELDS } from '../columns.js';
import type { EntryRole, QueuedEntry } from '../writer.js';
import { describePgError, type PgPool } from '../../state/pg/pool.js';

const MAX_RETRY_ITEMS = 10_000;
const MAX_ATTEMPTS = 1_000;
/** After a failed commit, what was kept is retried this long after (unless another write comes first). */
const RETRY_MS = 1_000;

/**
 * One chain append, every column as an array in the parameter order of `audit_append`: the instance, the
 * roles, the header's columns, the header line and the body.
 */
const APPEND = `SELECT first_seq, last_checkpoint FROM audit_append($1, $2::text[], ${HEADER_FIELDS.map(
  (f, i) => `$${i + 3}::${f.pg}[]`,
).join(', ')}, $${HEADER_FIELDS.length + 3}::text[], $${HEADER_FIELDS.length + 4}::text[])`;

export function appendParams(instance: string, items: readonly { entry: EntryInput; role: EntryRole }[]): unknown[] {
  return [
    instance,
    items.map((item) => item.role),
    ...HEADER_FIELDS.map((f) => items.map((item) => item.entry[f.key])),
    items.map((item) => rowHeader(item.entry)),
    items.map((item) => item.entry.body),
  ];
}

/** Appends entries in one statement (its own transaction); returns the first seq and the last checkpoint's. */
export async function appendEntries(
  client: Pick<PgPool, 'query'>,
  instance: string,
  items: readonly { entry: EntryInput; role: EntryRole }[],
): Promise<{ firstSeq: number; lastCheckpointSeq: number }> {
  const result = await client.query<{ first_seq: string; last_checkpoint: string }>(
    APPEND,
    appendParams(instance, items),
  );
  const row = result.rows[0]!;
  return { firstSeq: Number(row.first_seq), lastCheckpointSeq: Number(row.last_checkpoint) };
}

/**
 * Group commit on PostgreSQL: while one commit is in flight, what callers write queues up, and the
 * next commit takes all of it (up to `maxBatch`) in one `audit_append` statement: one round trip and one
 * WAL flush for the lot. A caller's promise settles only after its own entry committed. When a commit
 * fails (database unreachable, timed out, shutting down), intents in it are refused, so those calls are
 * not forwarded; outcomes and events are kept and retried with the next commit or after a second.
 */
export class PgGroupCommitWriter {
  private queue: QueuedEntry[] = [];
  private retry: QueuedEntry[] = [];
  private running: Promise<void> | undefined;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly maxBatch: number;
  commits = 0;

  constructor(
    private readonly pool: PgPool,
    private readonly instance: string,
    private readonly logger: Logger,
    private readonly hooks: CommitHooks,
    maxBatch = 2_000,
  ) {
    this.maxBatch = maxBatch;
  }

  write(entry: EntryInput, role: EntryRole): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, role, resolve, reject, attempts: 0 });
      this.kick();
    });
  }

  get backlog(): number {
    return this.retry.length;
  }

  get depth(): number {
    return this.queue.length + this.retry.length;
  }

  /** Commits what is queued and retries what was kept (once), then resolves. */
  async flush(): Promise<void> {
    if (this.running) await this.running;
    if (this.queue.length > 0 || this.retry.length > 0) await this.start();
  }

  /** Stops the retry timer (the pool is about to close). */
  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private kick(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // Entries written in this turn of the event loop join the first commit.
    setImmediate(() => {
      this.scheduled = false;
      if (!this.running) void this.start();
    });
  }

  private start(): Promise<void> {
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.kick();
    });
    return this.running;
  }

  /** What was kept from an earlier failure goes first, once; what fails now waits for the next drain. */
  private async drain(): Promise<void> {
    let first = true;
    while (this.queue.length > 0 || (first && this.retry.length > 0)) {
      const kept = first ? this.retry.splice(0) : [];
      first = false;
      await this.commit([...kept, ...this.queue.splice(0, this.maxBatch)]);
    }
  }

  private async commit(batch: QueuedEntry[]): Promise<void> {
    const started = performance.now();
    let result: { firstSeq: number; lastCheckpointSeq: number };
    try {
      result = await appendEntries(this.pool, this.instance, batch);
    } catch (error) {
      this.fail(batch, error);
      return;
    }
    this.commits += 1;
    this.hooks.onCommitted?.(batch.length, performance.now() - started);
    batch.forEach((item, index) => item.resolve?.(result.firstSeq + index));
    this.hooks.onCommit?.(result.firstSeq + batch.length - 1, result.lastCheckpointSeq);
  }

  private fail(batch: QueuedEntry[], error: unknown): void {
    const reason = describePgError(error);
    const failure = new WardenError('ERR_AUDIT_UNAVAILABLE', `audit log unavailable: ${reason}`, { cause: error });
    let intents = 0;
    let dropped = 0;
    for (const item of batch) {
      item.reject?.(failure);
      if (item.role === 'intent') {
        intents += 1;
        continue;
      }
      const kept: QueuedEntry = { entry: item.entry, role: item.role, attempts: item.attempts + 1 };
      if (kept.attempts < MAX_ATTEMPTS && this.retry.length < MAX_RETRY_ITEMS) this.retry.push(kept);
      else dropped += 1;
    }
    if (intents > 0)
      this.logger.error({ reason, intents }, 'audit intents could not be committed; those calls are refused');
    if (batch.length > intents)
      this.logger.error(
        { reason, entries: batch.length - intents, dropped },
        'audit outcomes or events could not be committed; retrying',
      );
    if (this.retry.length > 0 && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.retry.length > 0) void this.flush();
      }, RETRY_MS);
      this.retryTimer.unref();
    }
  }
}
