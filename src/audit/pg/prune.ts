import { WardenError } from '../../errors.js';
import { newRecordId } from '../../model/canonical.js';
import type { SignerKey } from '../checkpoints.js';
import { prunedEvent, type PruneResult } from '../prune.js';
import { PgBackend } from './backend.js';
import type { PgPool } from '../../state/pg/pool.js';
import { appendEntries } from './writer.js';
import { pino } from 'pino';

/**
 * `audit prune` on PostgreSQL, as on SQLite (src/audit/prune.ts): a checkpoint, the oldest entries removed
 * up to the first written at or after `before`, an anchor and an `audit.pruned` event naming it, in one
 * transaction under the chain's lock, then another checkpoint.
 */
export async function prunePgBefore(
  pool: PgPool,
  before: number,
  signer: SignerKey,
  now: number,
): Promise<PruneResult | undefined> {
  const instance = `cli-${newRecordId(now)}`;
  const signing = new PgBackend({ pool, instance, logger: pino({ level: 'silent' }) });
  await signing.checkpoint(signer, instance, now);
  const client = await pool.connect();
  let result: PruneResult | undefined;
  try {
    await client.query('BEGIN');
    const head = Number(
      (await client.query<{ seq: string }>('SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE')).rows[0]!.seq,
    );
    const firstKept = (
      await client.query<{ seq: string | null }>('SELECT min(seq) AS seq FROM audit_entries WHERE ts >= $1', [before])
    ).rows[0]?.seq;
    const upTo = (firstKept === null || firstKept === undefined ? head + 1 : Number(firstKept)) - 1;
    const previous = Number(
      (await client.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM audit_anchors')).rows[0]?.seq ?? 0,
    );
    if (upTo > previous) {
      const last = (await client.query<{ hash: string }>('SELECT hash FROM audit_entries WHERE seq = $1', [upTo]))
        .rows[0];
      if (!last)
        throw new WardenError(
          'ERR_AUDIT_INVALID',
          `entry ${upTo} is missing: run "mcp-warden audit verify" before pruning`,
        );
      const removed = (await client.query('DELETE FROM audit_entries WHERE seq <= $1', [upTo])).rowCount ?? 0;
      await client.query('DELETE FROM audit_open_intents WHERE seq <= $1', [upTo]);
      await client.query('INSERT INTO audit_anchors (seq, hash, ts, rows, before) VALUES ($1, $2, $3, $4, $5)', [
        upTo,
        last.hash,
        now,
        removed,
        before,
      ]);
      await appendEntries(client, instance, [
        { role: 'event', entry: prunedEvent(instance, now, { before, upTo, anchorHash: last.hash, removed }) },
      ]);
      result = { removed, upTo, anchorHash: last.hash };
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  if (result) await signing.checkpoint(signer, instance, now);
  return result;
}
