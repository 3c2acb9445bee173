import { chmodSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { WardenError } from '../errors.js';
import { checkSchema, migrate } from './migrations.js';

export type Db = Database.Database;

export type Durability = 'process-crash' | 'power-loss';

export const AUDIT_FILE = 'audit.db';
/** The page size of audit databases this version creates. */
export const PAGE_SIZE = 2048;
const WAL_CHECKPOINT_BYTES = 40 * 1024 * 1024;

export function auditFile(dataDir: string): string {
  return join(dataDir, AUDIT_FILE);
}

export interface OpenOptions {
  /** `process-crash`: synchronous=NORMAL (a killed gateway loses nothing committed); `power-loss`: FULL. */
  durability?: Durability;
  /** How long a write waits for another process's transaction before it fails. */
  busyTimeoutMs?: number;
  /** A quota: writes that would grow the file past it fail as "database full". */
  maxDatabaseBytes?: number;
  /** Reviewer commands open read-only and never migrate. */
  readonly?: boolean;
}

/**
 * Opens (creating if needed) the audit database: WAL, a busy timeout, the chosen durability, migrations
 * applied. Every failure is a WardenError that says what is wrong with the file.
 */
export function openAuditDb(file: string, options: OpenOptions = {}): Db {
  let db: Db | undefined;
  try {
    if (!options.readonly) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Reviewers' connections never write (query_only); they are not opened SQLITE_OPEN_READONLY so that
    // SQLite can still create the WAL index file a reader needs after the last writer closed.
    db = new Database(file, { fileMustExist: options.readonly === true });
    // Empty: just made, or left with no page by a first open that failed. Either way nothing is fixed yet.
    const created = !options.readonly && (db.pragma('page_count', { simple: true }) as number) === 0;
    // Owner only; SQLite gives the -wal and -shm files the same mode.
    if (created) chmodSync(file, 0o600);
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5_000))}`);
    // Before the first write fixes it: every commit copies each page it touches into the WAL (an intent
    // touches a dozen: the row, its indexes, the chain head), two writes per page. 2 KiB holds a governed
    // call's intent (about 1 KB) in its leaf: with 1 KiB it spilled into an overflow page and grew the file
    // on every intent (docs/performance.md). Files made by older versions keep theirs.
    if (created) db.pragma(`page_size = ${PAGE_SIZE}`);
    if (options.readonly) {
      db.pragma('query_only = ON');
      checkSchema(db, file);
      return db;
    }
    if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') {
      throw new WardenError(
        'ERR_AUDIT_UNAVAILABLE',
        `${file}: cannot switch to WAL mode (is the file or its folder read-only?)`,
      );
    }
    // The writer touches the right-hand edges of the chain's B-trees and little else: with 400,000 entries
    // of 100 agents and 50 tools, 4, 8 and 32 MB gave the same commit latency and rows/s
    // (docs/performance.md). 8 MB instead of 32 keeps the gateway's memory down.
    db.pragma('cache_size = -8192');
    // Checkpoint the WAL every ~40 MB rather than SQLite's 1,000 pages: hot index pages are copied back
    // less often (about 15% more entries/s under load); the file is cut back to 64 MB after a checkpoint.
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`wal_autocheckpoint = ${Math.ceil(WAL_CHECKPOINT_BYTES / pageSize)}`);
    db.pragma('journal_size_limit = 67108864');
    db.pragma(`synchronous = ${options.durability === 'power-loss' ? 'FULL' : 'NORMAL'}`);
    migrate(db, file);
    if (options.maxDatabaseBytes !== undefined) setQuota(db, options.maxDatabaseBytes);
    return db;
  } catch (error) {
    db?.close();
    if (error instanceof WardenError) throw error;
    throw new WardenError('ERR_AUDIT_UNAVAILABLE', `${file}: ${describeDbError(error)}`, { cause: error });
  }
}

/** Limits the file to `bytes` (rounded down to whole pages) on this connection; `extraPages` adds headroom. */
export function setQuota(db: Db, bytes: number, extraPages = 0): void {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.pragma(`max_page_count = ${Math.max(1, Math.floor(bytes / pageSize)) + extraPages}`);
}

/** One line on what a SQLite failure means for the audit log, without library internals. */
export function describeDbError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const text = typeof code === 'string' ? code : '';
  if (text.startsWith('SQLITE_BUSY') || text.startsWith('SQLITE_LOCKED'))
    return 'database is locked by another process (busy timeout passed)';
  if (text.startsWith('SQLITE_FULL')) return 'database or disk is full';
  if (text.startsWith('SQLITE_READONLY')) return 'database is read-only';
  if (text.startsWith('SQLITE_CORRUPT') || text.startsWith('SQLITE_NOTADB'))
    return 'database file is corrupt or not a database';
  if (text.startsWith('SQLITE_CANTOPEN')) return 'database file cannot be opened (missing folder or no permission)';
  if (text.startsWith('SQLITE_IOERR')) return `I/O error (${text})`;
  if (text.startsWith('SQLITE_')) return `database error (${text})`;
  if (typeof code === 'string') return `cannot open (${code})`;
  return error instanceof Error ? error.message : String(error);
}
