import type { StoredEntry } from '../chain.js';

/** An `audit_entries` row as the driver returns it: bigint columns arrive as strings. */
export interface PgEntryRow {
  seq: string;
  id: string;
  kind: StoredEntry['kind'];
  ts: string;
  startedAt: string;
  instance: string;
  type: string;
  subject: string | null;
  taskId: string | null;
  server: string | null;
  target: string | null;
  decision: string | null;
  outcome: string | null;
  body: string;
  prevHash: string;
  hash: string;
}

export const PG_ENTRY_COLUMNS =
  'seq, id, kind, ts, started_at AS "startedAt", instance, type, subject, task_id AS "taskId", server, target, decision, outcome, body, prev_hash AS "prevHash", hash';

/** Epoch milliseconds and seqs stay far below 2^53, so bigint strings become numbers without loss. */
export function toStoredEntry(row: PgEntryRow): StoredEntry {
  return { ...row, seq: Number(row.seq), ts: Number(row.ts), startedAt: Number(row.startedAt) };
}
