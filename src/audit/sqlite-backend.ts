import type { CommitHooks, AuditBackend } from './backend.js';
import type { EntryInput } from './chain.js';
import { writeCheckpoint, type SignerKey } from './checkpoints.js';
import { recoverOpenIntents } from './recovery.js';
import type { Db } from './store.js';
import { GroupCommitWriter, type EntryRole } from './writer.js';
import type { Logger } from 'pino';

export interface SqliteBackendOptions {
  db: Db;
  instance: string;
  logger: Logger;
  quota?: { bytes: number; reservePages: number };
}

/** The audit store in `<dataDir>/audit.db`: group commit in one `BEGIN IMMEDIATE` transaction per turn. */
export class SqliteBackend implements AuditBackend {
  readonly kind = 'sqlite';
  readonly hooks: CommitHooks = {};
  private readonly writer: GroupCommitWriter;

  constructor(private readonly options: SqliteBackendOptions) {
    this.writer = new GroupCommitWriter({
      db: options.db,
      instance: options.instance,
      logger: options.logger,
      ...(options.quota && { quota: options.quota }),
      onCommitted: (entries, ms) => this.hooks.onCommitted?.(entries, ms),
      onCommit: (head, last) => this.hooks.onCommit?.(head, last),
    });
  }

  get db(): Db {
    return this.options.db;
  }

  write(entry: EntryInput, role: EntryRole): Promise<number> {
    return this.writer.write(entry, role);
  }

  flush(): Promise<void> {
    this.writer.flush();
    return Promise.resolve();
  }

  get depth(): number {
    return this.writer.depth;
  }

  get backlog(): number {
    return this.writer.backlog;
  }

  get commits(): number {
    return this.writer.commits;
  }

  register(instance: string, host: string, pid: number, now: number): Promise<void> {
    this.options.db
      .prepare('INSERT INTO instances (id, host, pid, started_at) VALUES (?, ?, ?, ?)')
      .run(instance, host, pid, now);
    return Promise.resolve();
  }

  recover(self: string, now: number): Promise<{ count: number; instances: string[] }> {
    return Promise.resolve(recoverOpenIntents(this.options.db, self, now));
  }

  checkpoint(signer: SignerKey, instance: string, now: number): Promise<{ seq: number; kid: string } | undefined> {
    return Promise.resolve(writeCheckpoint(this.options.db, signer, instance, now));
  }

  markStopped(instance: string, now: number): Promise<void> {
    this.options.db
      .prepare('UPDATE instances SET stopped_at = ?, ended = ? WHERE id = ?')
      .run(now, 'stopped', instance);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.options.db.close();
    return Promise.resolve();
  }

  databaseBytes(): number | undefined {
    const db = this.options.db;
    if (!db.open) return undefined;
    return (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
  }
}
