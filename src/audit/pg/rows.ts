import type { StoredEntry } from '../chain.js';
import { selectColumns } from '../columns.js';

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

/** Every column of `audit_entries` under its property name (quoted: PostgreSQL folds unquoted names). */
export const PG_ENTRY_COLUMNS = selectColumns(true);

/** Epoch milliseconds and seqs stay far below 2^53, so bigint strings become numbers without loss. */
export function toStoredEntry(row: PgEntryRow): StoredEntry {
  return { ...row, seq: Number(row.seq), ts: Number(row.ts), startedAt: Number(row.startedAt) };
}
