import type { EntryInput, StoredEntry } from './chain.js';

/**
 * The one list of an audit entry's columns, in table order: the SQL column, the property that holds it
 * and its PostgreSQL type. Every statement that names the columns (SQLite and PostgreSQL, reads and
 * writes) is derived from it. The columns from `id` to `outcome` are also, in this order, the canonical
 * row's header (chain.ts `rowHeader`): the hashed format, so the order never changes.
 */
export const ENTRY_FIELDS = [
  { column: 'seq', key: 'seq', pg: 'bigint' },
  { column: 'id', key: 'id', pg: 'text' },
  { column: 'kind', key: 'kind', pg: 'text' },
  { column: 'ts', key: 'ts', pg: 'bigint' },
  { column: 'started_at', key: 'startedAt', pg: 'bigint' },
  { column: 'instance', key: 'instance', pg: 'text' },
  { column: 'type', key: 'type', pg: 'text' },
  { column: 'subject', key: 'subject', pg: 'text' },
  { column: 'task_id', key: 'taskId', pg: 'text' },
  { column: 'server', key: 'server', pg: 'text' },
  { column: 'target', key: 'target', pg: 'text' },
  { column: 'decision', key: 'decision', pg: 'text' },
  { column: 'outcome', key: 'outcome', pg: 'text' },
  { column: 'body', key: 'body', pg: 'text' },
  { column: 'prev_hash', key: 'prevHash', pg: 'text' },
  { column: 'hash', key: 'hash', pg: 'text' },
] as const satisfies readonly { column: string; key: keyof StoredEntry; pg: 'bigint' | 'text' }[];

type Field = (typeof ENTRY_FIELDS)[number];
type HeaderField = Extract<Field, { key: Exclude<keyof EntryInput, 'body'> }>;

/** The header's columns: every column but `seq`, the body and the two hashes, in table order. */
export const HEADER_FIELDS: readonly HeaderField[] = ENTRY_FIELDS.filter(
  (f): f is HeaderField => f.key !== 'seq' && f.key !== 'body' && f.key !== 'prevHash' && f.key !== 'hash',
);

/** `a, b, …`: every column name, for INSERT lists and prefixed selects. */
export const ENTRY_COLUMN_NAMES: readonly string[] = ENTRY_FIELDS.map((f) => f.column);

/** A SELECT list giving each column under its property name; `quote` for PostgreSQL (which folds case). */
export function selectColumns(quote: boolean): string {
  return ENTRY_FIELDS.map((f) =>
    f.column === f.key ? f.column : `${f.column} AS ${quote ? `"${f.key}"` : f.key}`,
  ).join(', ');
}
