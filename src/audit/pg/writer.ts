import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { WardenError } from '../../errors.js';
import type { CommitHooks } from '../backend.js';
import { linkHash, rowHeader, type ChainHead, type EntryInput } from '../chain.js';
import { HEADER_FIELDS } from '../columns.js';
import type { EntryRole, QueuedEntry } from '../writer.js';
import { describePgError, type PgPool } from '../../state/pg/pool.js';

const MAX_RETRY_ITEMS = 10_000;
const MAX_ATTEMPTS = 1_000;
/** After a failed commit, what was kept is retried this long after (unless another write comes first). */
const RETRY_MS = 1_000;

/**
 * One chain append, every column as an array in the parameter order of `audit_append` (schema version 3):
 * the instance, the chain's end the writer hashed from and its hashes (or nulls: the server hashes), the
 * roles, the header's columns, the header line and the body.
 */
const APPEND = `SELECT first_seq, last_checkpoint, head_hash FROM audit_append($1, $2::bigint, $3::text, $4::text[], $5::text[], ${HEADER_FIELDS.map(
  (f, i) => `$${i + 6}::${f.pg}[]`,
).join(', ')}, $${HEADER_FIELDS.length + 6}::text, $${HEADER_FIELDS.length + 7}::text)`;

type Item = { entry: EntryInput; role: EntryRole };

/**
 * The statement's parameters. With `head` (the chain's end as this writer last left it), each entry's hash
 * is computed here, chained from it; the server takes them only if `head` is still the chain's end.
 */
export function appendParams(instance: string, items: readonly Item[], head?: ChainHead): unknown[] {
  const headers = items.map((item) => rowHeader(item.entry));
  const bodies = items.map((item) => item.entry.body);
  let hashes: string[] | null = null;
  if (head) {
    let prev = head.hash;
    hashes = headers.map((header, i) => (prev = linkHash(prev, header, bodies[i]!)));
  }
  // Sent joined by newlines: JSON (headers and bodies are JSON.stringify output) never holds a raw one.
  if (headers.some(hasNewline) || bodies.some(hasNewline))
    throw new WardenError('ERR_AUDIT_INVALID', 'an audit entry holds a raw newline; it is not JSON');
  return [
    instance,
    head?.seq ?? null,
    head?.hash ?? null,
    hashes,
    items.map((item) => item.role),
    ...HEADER_FIELDS.map((f) => items.map((item) => item.entry[f.key])),
    headers.join('\n'),
    bodies.join('\n'),
  ];
}

const hasNewline = (text: string) => text.includes('\n');

/**
 * Appends entries in one statement (its own transaction); returns the first seq, the last checkpoint's
 * and the chain's new end. `head`: see appendParams.
 */
export async function appendEntries(
  client: Pick<PgPool, 'query'>,
  instance: string,
  items: readonly Item[],
  head?: ChainHead,
): Promise<{ firstSeq: number; lastCheckpointSeq: number; head: ChainHead }> {
  const result = await client.query<{ first_seq: string; last_checkpoint: string; head_hash: string }>(
    APPEND,
    appendParams(instance, items, head),
  );
  const row = result.rows[0]!;
  const firstSeq = Number(row.first_seq);
  return {
    firstSeq,
    lastCheckpointSeq: Number(row.last_checkpoint),
    head: { seq: firstSeq + items.length - 1, hash: row.head_hash },
  };
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
  /** The chain's end after this writer's last commit: the next commit hashes from it (unknown after a failure). */
  private head: ChainHead | undefined;
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
    let result: { firstSeq: number; lastCheckpointSeq: number; head: ChainHead };
    try {
      result = await appendEntries(this.pool, this.instance, batch, this.head);
    } catch (error) {
      this.head = undefined;
      this.fail(batch, error);
      return;
    }
    this.head = result.head;
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
