import { performance } from 'node:perf_hooks';
import { WardenError } from '../errors.js';
import type { Logger } from 'pino';
import { ChainAppender, type EntryInput } from './chain.js';
import { describeDbError, setQuota, type Db } from './store.js';

/** Intents open a record (and must be durable before the call goes on); outcomes close one. */
export type EntryRole = 'intent' | 'outcome' | 'event';

/** One entry waiting for its commit, with its caller's settlement (none once kept for a retry). */
export interface QueuedEntry {
  entry: EntryInput;
  role: EntryRole;
  resolve?: (seq: number) => void;
  reject?: (error: WardenError) => void;
  attempts: number;
}

export interface WriterOptions {
  db: Db;
  instance: string;
  logger: Logger;
  /** Entries per transaction at most (bounds how long one commit holds the event loop). */
  maxBatch?: number;
  /** The database quota, if any: outcomes and events may use `reservePages` beyond it, intents may not. */
  quota?: { bytes: number; reservePages: number };
  /** After each commit: the chain's end and the last checkpoint's seq, read in the same transaction. */
  onCommit?: (headSeq: number, lastCheckpointSeq: number) => void;
  /** After each commit: how many entries it held and how long the transaction took (metrics). */
  onCommitted?: (entries: number, durationMs: number) => void;
}

const MAX_RETRY_ITEMS = 10_000;
const MAX_ATTEMPTS = 1_000;

/**
 * Group commit: entries written in the same turn of the event loop share one `BEGIN IMMEDIATE`
 * transaction. A caller's promise settles only after its own entry has committed, so no call is
 * forwarded before its intent is durable. When a commit fails, intents in it are refused; outcomes and
 * events are retried (with the quota's reserve) and, failing that, kept for the next commit.
 */
export class GroupCommitWriter {
  private queue: QueuedEntry[] = [];
  private retry: QueuedEntry[] = [];
  private scheduled = false;
  private readonly maxBatch: number;
  private readonly commitTx;

  constructor(private readonly options: WriterOptions) {
    const { db, instance } = options;
    this.maxBatch = options.maxBatch ?? 2_000;
    const appender = new ChainAppender(db);
    const openIntent = db.prepare('INSERT OR REPLACE INTO open_intents (id, instance, seq) VALUES (?, ?, ?)');
    const closeIntent = db.prepare('DELETE FROM open_intents WHERE id = ?');
    const lastCheckpoint = db.prepare<[], { seq: number }>('SELECT seq FROM checkpoints ORDER BY id DESC LIMIT 1');
    this.commitTx = db.transaction((items: readonly QueuedEntry[]) => {
      const seqs = appender.append(items.map((item) => item.entry));
      items.forEach((item, index) => {
        if (item.role === 'intent') openIntent.run(item.entry.id, instance, seqs[index]);
        else if (item.role === 'outcome') closeIntent.run(item.entry.id);
      });
      return { seqs, lastCheckpointSeq: lastCheckpoint.get()?.seq ?? 0 };
    });
  }

  /** Resolves with the entry's seq once committed; rejects (ERR_AUDIT_UNAVAILABLE) when it could not be. */
  write(entry: EntryInput, role: EntryRole): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, role, resolve, reject, attempts: 0 });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Transactions committed so far (group commit puts many entries in one). */
  commits = 0;

  /** Entries that could not be written yet (outcomes and events kept for a retry). */
  get backlog(): number {
    return this.retry.length;
  }

  /** Entries waiting for a commit: queued in this turn and kept for a retry. */
  get depth(): number {
    return this.queue.length + this.retry.length;
  }

  /** Commits everything queued, now. */
  flush(): void {
    this.scheduled = false;
    do {
      const batch = [...this.retry.splice(0), ...this.queue.splice(0, this.maxBatch)];
      if (batch.length > 0) this.commit(batch);
    } while (this.queue.length > 0);
  }

  private commit(batch: QueuedEntry[]): void {
    let error: unknown;
    try {
      this.settle(batch, this.run(batch));
      return;
    } catch (failure) {
      error = failure;
    }
    const reason = describeDbError(error);
    const refused = new WardenError('ERR_AUDIT_UNAVAILABLE', `audit log unavailable: ${reason}`, { cause: error });
    const rest: QueuedEntry[] = [];
    for (const item of batch) {
      if (item.role === 'intent') item.reject?.(refused);
      else rest.push(item);
    }
    const intents = batch.length - rest.length;
    if (intents > 0)
      this.options.logger.error({ reason, intents }, 'audit intents could not be committed; those calls are refused');
    if (rest.length === 0) return;
    // Outcomes and events of calls already under way: retried at once, with the quota's reserve.
    const quota = this.options.quota;
    try {
      if (quota) setQuota(this.options.db, quota.bytes, quota.reservePages);
      this.settle(rest, this.run(rest));
    } catch (second) {
      this.keep(rest, second);
    } finally {
      if (quota) setQuota(this.options.db, quota.bytes);
    }
  }

  private run(items: QueuedEntry[]): { seqs: number[]; lastCheckpointSeq: number } {
    if (!this.options.onCommitted) return this.commitTx.immediate(items);
    const started = performance.now();
    const result = this.commitTx.immediate(items);
    this.options.onCommitted(items.length, performance.now() - started);
    return result;
  }

  private settle(items: QueuedEntry[], result: { seqs: number[]; lastCheckpointSeq: number }): void {
    this.commits += 1;
    items.forEach((item, index) => item.resolve?.(result.seqs[index]!));
    this.options.onCommit?.(result.seqs.at(-1) ?? 0, result.lastCheckpointSeq);
  }

  private keep(items: QueuedEntry[], error: unknown): void {
    const reason = describeDbError(error);
    const failure = new WardenError('ERR_AUDIT_UNAVAILABLE', `audit log unavailable: ${reason}`, { cause: error });
    let dropped = 0;
    for (const item of items) {
      item.reject?.(failure);
      const kept: QueuedEntry = { entry: item.entry, role: item.role, attempts: item.attempts + 1 };
      if (kept.attempts < MAX_ATTEMPTS && this.retry.length < MAX_RETRY_ITEMS) this.retry.push(kept);
      else dropped += 1;
    }
    this.options.logger.error(
      { reason, entries: items.length, dropped },
      'audit outcomes or events could not be committed; retrying with the next commit',
    );
  }
}
