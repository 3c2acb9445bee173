import type { StoredEntry } from './chain.js';
import { listCheckpoints, type CheckpointRow } from './checkpoints.js';
import {
  entriesAfter,
  exportRecords,
  getRecord,
  lastEntries,
  listEvents,
  listRecords,
  stats,
  type EventFilter,
  type RecordDetail,
  type RecordFilter,
  type RecordSummary,
  type Stats,
} from './queries.js';
import type { Db } from './store.js';
import { verifyChain, type ExternalCheckpoints, type VerifyReport } from './verify.js';

/** One record as `audit export` writes it. */
export interface ExportedRecord {
  summary: RecordSummary;
  intent?: StoredEntry;
  outcome?: StoredEntry;
}

/**
 * What the reviewer commands read, from either store: `audit.db` (`SqliteAuditReader`) or the PostgreSQL
 * store (`src/audit/pg/reader.ts`). Both run the same statements (src/audit/queries.ts builds them), so a
 * filter finds the same records on both.
 */
export interface AuditReader {
  /** Where the log is, for messages: the file, or the database (never a password). */
  readonly location: string;
  listRecords(filter: RecordFilter): Promise<RecordSummary[]>;
  getRecord(id: string): Promise<RecordDetail | { event: StoredEntry } | undefined>;
  listEvents(filter: EventFilter): Promise<StoredEntry[]>;
  /** Oldest first. */
  exportRecords(filter: RecordFilter): AsyncIterable<ExportedRecord>;
  entriesAfter(afterSeq: number, limit: number): Promise<StoredEntry[]>;
  lastEntries(count: number): Promise<StoredEntry[]>;
  /** The last entry's seq (0: none). */
  lastSeq(): Promise<number>;
  stats(filter: RecordFilter): Promise<Stats>;
  checkpoints(): Promise<CheckpointRow[]>;
  /** Walks the chain with these public keys (PostgreSQL adds the keys replicas published). */
  verify(publicKeys: ReadonlyMap<string, object>, external?: ExternalCheckpoints): Promise<VerifyReport>;
  close(): Promise<void>;
}

/** The reviewer's view of `audit.db`, opened read-only. */
export class SqliteAuditReader implements AuditReader {
  constructor(
    private readonly db: Db,
    readonly location: string,
  ) {}

  listRecords(filter: RecordFilter): Promise<RecordSummary[]> {
    return Promise.resolve(listRecords(this.db, filter));
  }

  getRecord(id: string): Promise<RecordDetail | { event: StoredEntry } | undefined> {
    return Promise.resolve(getRecord(this.db, id));
  }

  listEvents(filter: EventFilter): Promise<StoredEntry[]> {
    return Promise.resolve(listEvents(this.db, filter));
  }

  async *exportRecords(filter: RecordFilter): AsyncIterable<ExportedRecord> {
    yield* exportRecords(this.db, filter);
  }

  entriesAfter(afterSeq: number, limit: number): Promise<StoredEntry[]> {
    return Promise.resolve(entriesAfter(this.db, afterSeq, limit));
  }

  lastEntries(count: number): Promise<StoredEntry[]> {
    return Promise.resolve(lastEntries(this.db, count));
  }

  lastSeq(): Promise<number> {
    const row = this.db.prepare('SELECT max(seq) AS seq FROM entries').get() as { seq: number | null };
    return Promise.resolve(row.seq ?? 0);
  }

  stats(filter: RecordFilter): Promise<Stats> {
    return Promise.resolve(stats(this.db, filter));
  }

  checkpoints(): Promise<CheckpointRow[]> {
    return Promise.resolve(listCheckpoints(this.db));
  }

  verify(publicKeys: ReadonlyMap<string, object>, external?: ExternalCheckpoints): Promise<VerifyReport> {
    return Promise.resolve(verifyChain(this.db, publicKeys, external));
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
