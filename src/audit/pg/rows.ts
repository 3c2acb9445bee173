import type { StoredEntry } from '../chain.js';
import { selectColumns } from '../columns.js';

/** An `audit_entries` row as the driver returns it: bigint columns (the numbers) arrive as strings. */
export type PgEntryRow = { [K in keyof StoredEntry]: StoredEntry[K] extends number ? string : StoredEntry[K] };

/** Every column of `audit_entries` under its property name (quoted: PostgreSQL folds unquoted names). */
export const PG_ENTRY_COLUMNS = selectColumns(true);

/** Epoch milliseconds and seqs stay far below 2^53, so bigint strings become numbers without loss. */
export function toStoredEntry(row: PgEntryRow): StoredEntry {
  return { ...row, seq: Number(row.seq), ts: Number(row.ts), startedAt: Number(row.startedAt) };
}
