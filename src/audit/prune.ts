import { WardenError } from '../errors.js';
import { newRecordId } from '../model/canonical.js';
import { ChainAppender, type EntryInput } from './chain.js';
import { writeCheckpoint, type SignerKey } from './checkpoints.js';
import type { Db } from './store.js';

export interface PruneResult {
  removed: number;
  /** The last removed entry: the anchor the rest of the chain now starts from. */
  upTo: number;
  anchorHash: string;
}

/**
 * Removes the oldest entries, up to (not including) the first written at or after `before`. What
 * remains still verifies: an anchor keeps the last removed entry's seq and hash, an `audit.pruned`
 * event in the chain names that anchor, and checkpoints are signed before and after (checkpoints
 * themselves are never pruned).
 */
export function pruneBefore(db: Db, before: number, signer: SignerKey, now: number): PruneResult | undefined {
  const instance = `cli-${newRecordId(now)}`;
  writeCheckpoint(db, signer, instance, now);
  const appender = new ChainAppender(db);
  const result = db
    .transaction((): PruneResult | undefined => {
      const head = appender.head();
      const firstKept = db
        .prepare<[number], { seq: number }>('SELECT min(seq) AS seq FROM entries WHERE ts >= ?')
        .get(before)?.seq;
      const upTo = (firstKept ?? head.seq + 1) - 1;
      const previous = db.prepare<[], { seq: number }>('SELECT max(seq) AS seq FROM anchors').get()?.seq ?? 0;
      if (upTo <= previous) return undefined;
      const last = db.prepare<[number], { hash: string }>('SELECT hash FROM entries WHERE seq = ?').get(upTo);
      if (!last)
        throw new WardenError(
          'ERR_AUDIT_INVALID',
          `entry ${upTo} is missing: run "mcp-warden audit verify" before pruning`,
        );
      const removed = db.prepare('DELETE FROM entries WHERE seq <= ?').run(upTo).changes;
      db.prepare('DELETE FROM open_intents WHERE seq <= ?').run(upTo);
      db.prepare('INSERT INTO anchors (seq, hash, ts, rows, before) VALUES (?, ?, ?, ?, ?)').run(
        upTo,
        last.hash,
        now,
        removed,
        before,
      );
      appender.append([prunedEvent(instance, now, { before, upTo, anchorHash: last.hash, removed })]);
      return { removed, upTo, anchorHash: last.hash };
    })
    .immediate();
  if (result) writeCheckpoint(db, signer, instance, now);
  return result;
}

/** The `audit.pruned` event both stores append after removing entries up to the anchor. */
export function prunedEvent(
  instance: string,
  now: number,
  pruned: { before: number; upTo: number; anchorHash: string; removed: number },
): EntryInput {
  const data = { ...pruned, before: new Date(pruned.before).toISOString() };
  return {
    id: newRecordId(now),
    kind: 'event',
    ts: now,
    startedAt: now,
    instance,
    type: 'audit.pruned',
    subject: null,
    taskId: null,
    server: null,
    target: null,
    decision: null,
    outcome: null,
    body: JSON.stringify({ v: 1, data }),
  };
}
