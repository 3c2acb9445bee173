import { createHash } from 'node:crypto';
import type { Db } from './store.js';
import { ENTRY_COLUMN_NAMES, HEADER_FIELDS, selectColumns } from './columns.js';

export type EntryKind = 'intent' | 'outcome' | 'event';

/** One link of the chain, as written. Every column except `seq`, `prev_hash` and `hash` is hashed. */
export interface EntryInput {
  id: string;
  kind: EntryKind;
  /** When the entry was written (epoch ms). */
  ts: number;
  /** When the action began: the intent's time, repeated on its outcome; an event's own time. */
  startedAt: number;
  instance: string;
  /** The method for intents and outcomes, the event type for events. */
  type: string;
  subject: string | null;
  taskId: string | null;
  server: string | null;
  target: string | null;
  decision: string | null;
  outcome: string | null;
  /** JSON of everything else. */
  body: string;
}

export interface StoredEntry extends EntryInput {
  seq: number;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);
const FORMAT = 1;

/**
 * The hashed form of an entry: a JSON array of the columns in a fixed order, led by the format version,
 * then a newline, then the body exactly as stored. (JSON never contains a raw newline, so the split is
 * unambiguous, and the body is hashed byte for byte without being escaped a second time.)
 */
export function canonicalRow(e: EntryInput): string {
  return `${rowHeader(e)}\n${e.body}`;
}

/**
 * The canonical row's first line: the format and every column but the body, as JSON. It does not depend
 * on the previous hash, so the PostgreSQL store computes it here and hashes it there (src/audit/pg/schema.ts).
 */
export function rowHeader(e: EntryInput): string {
  return JSON.stringify([FORMAT, ...headerColumns(e)]);
}

/** Every column but the body, in the order of the header and of the `entries` columns after `seq`. */
function headerColumns(e: EntryInput): (string | number | null)[] {
  return HEADER_FIELDS.map((f) => e[f.key]);
}

/** hash = SHA-256(previous hash (32 bytes) ‖ canonical row (UTF-8)), hex. */
export function entryHash(prevHash: string, e: EntryInput): string {
  return linkHash(prevHash, rowHeader(e), e.body);
}

/** entryHash with the header already made: the same bytes as canonicalRow, fed in parts (no copy of the body). */
export function linkHash(prevHash: string, header: string, body: string): string {
  return createHash('sha256')
    .update(Buffer.from(prevHash, 'hex'))
    .update(header)
    .update('\n')
    .update(body)
    .digest('hex');
}

/** Every column of `entries` under its property name (a StoredEntry per row). */
export const ENTRY_COLUMNS = selectColumns(false);

export interface ChainHead {
  seq: number;
  hash: string;
}

/**
 * Appends entries to the chain. Call only inside a write transaction (`BEGIN IMMEDIATE`): the head is
 * read and advanced under the database's write lock, so several processes extend one chain.
 */
export class ChainAppender {
  private readonly readHead;
  private readonly writeHead;
  private readonly insert;

  constructor(db: Db) {
    this.readHead = db.prepare<[], ChainHead>('SELECT seq, hash FROM chain_head WHERE id = 1');
    this.writeHead = db.prepare(
      'INSERT INTO chain_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
    );
    this.insert = db.prepare(
      `INSERT INTO entries (${ENTRY_COLUMN_NAMES.join(', ')}) VALUES (${ENTRY_COLUMN_NAMES.map(() => '?').join(', ')})`,
    );
  }

  head(): ChainHead {
    return this.readHead.get() ?? { seq: 0, hash: GENESIS_HASH };
  }

  /** Appends in order; returns each entry's seq. */
  append(entries: readonly EntryInput[]): number[] {
    let { seq, hash } = this.head();
    const seqs: number[] = [];
    for (const e of entries) {
      const next = entryHash(hash, e);
      seq += 1;
      this.insert.run(seq, ...headerColumns(e), e.body, hash, next);
      hash = next;
      seqs.push(seq);
    }
    if (entries.length > 0) this.writeHead.run(seq, hash);
    return seqs;
  }
}
