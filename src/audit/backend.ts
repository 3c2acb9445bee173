import type { EntryInput } from './chain.js';
import type { SignerKey } from './checkpoints.js';
import type { EntryRole } from './writer.js';

/**
 * What the audit stage (src/audit/sink.ts) needs from a store: SQLite (src/audit/sqlite-backend.ts) or
 * PostgreSQL (src/audit/pg/backend.ts). Both give the same guarantees: `write` settles only once the entry
 * is committed (group commit), an intent that cannot be committed is refused, outcomes and events that
 * cannot are kept and retried.
 */
export interface AuditBackend {
  readonly kind: 'sqlite' | 'postgres';
  /** Set by the sink before the first write. */
  readonly hooks: CommitHooks;
  /** Resolves with the entry's seq once committed; rejects (ERR_AUDIT_UNAVAILABLE) when it could not be. */
  write(entry: EntryInput, role: EntryRole): Promise<number>;
  /** Commits everything queued (and retries what was kept), now. */
  flush(): Promise<void>;
  /** Entries waiting for a commit. */
  readonly depth: number;
  /** Entries kept for a retry after a failed commit. */
  readonly backlog: number;
  /** Transactions committed so far. */
  readonly commits: number;
  /** Registers this gateway instance (replica). */
  register(instance: string, host: string, pid: number, now: number): Promise<void>;
  /** Appends `unknown_outcome` for the open intents of instances known to be gone. */
  recover(self: string, now: number): Promise<{ count: number; instances: string[] }>;
  /** Signs the chain's end unless the last checkpoint covers it. */
  checkpoint(signer: SignerKey, instance: string, now: number): Promise<{ seq: number; kid: string } | undefined>;
  /** Marks this instance stopped (it left no intent open). */
  markStopped(instance: string, now: number): Promise<void>;
  close(): Promise<void>;
  /** The store's size in bytes, if known. */
  databaseBytes(): number | undefined;
}

/**
 * Told after each commit: the chain's end and the last checkpoint's seq; and how many entries it held.
 * Told when the store reconciled dead replicas' intents by itself, outside `recover` at start (PostgreSQL's
 * heartbeat), so the audit records it as an event as it does at start.
 */
export interface CommitHooks {
  onCommit?: (headSeq: number, lastCheckpointSeq: number) => void;
  onCommitted?: (entries: number, durationMs: number) => void;
  onRecovered?: (recovered: { count: number; instances: string[] }) => void;
}
