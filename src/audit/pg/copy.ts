import type { Db } from '../store.js';
import { ENTRY_COLUMNS, type StoredEntry } from '../chain.js';
import { ENTRY_COLUMN_NAMES, ENTRY_FIELDS } from '../columns.js';
import { listCheckpoints } from '../checkpoints.js';
import { WardenError } from '../../errors.js';
import type { PgPool } from '../../state/pg/pool.js';

const BATCH = 2_000;

/** Every entry column as it is, one array parameter each (a batch in one statement). */
const COPY_ENTRIES = `INSERT INTO audit_entries (${ENTRY_COLUMN_NAMES.join(', ')})
  SELECT * FROM unnest(${ENTRY_FIELDS.map((f, i) => `$${i + 1}::${f.pg}[]`).join(', ')})`;

export interface CopyResult {
  entries: number;
  checkpoints: number;
  anchors: number;
}

/**
 * `store copy --from sqlite --to postgres` for the audit log: every entry with its seq, links and hash as
 * they are (nothing is re-hashed, so the copy verifies exactly as the file did), the chain head, the
 * signed checkpoints, prune anchors, gateway instances (as stopped) and their open intents, and the
 * public keys that signed the checkpoints. One transaction: the target gets all of it or nothing. The
 * target's audit log must be empty (a second copy, or a copy onto a live log, is refused).
 */
export async function copySqliteAuditToPg(
  db: Db,
  pool: PgPool,
  publicKeys: ReadonlyMap<string, object>,
  now: number,
): Promise<CopyResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const head = (await client.query<{ seq: string }>('SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE'))
      .rows[0];
    const existing = (await client.query<{ n: string }>('SELECT count(*) AS n FROM audit_entries')).rows[0]!.n;
    if (Number(head?.seq ?? 0) !== 0 || Number(existing) !== 0)
      throw new WardenError(
        'ERR_AUDIT_INVALID',
        `the PostgreSQL audit log is not empty (${existing} entries); copy only into an empty one`,
      );
    let entries = 0;
    let batch: StoredEntry[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await client.query(
        COPY_ENTRIES,
        ENTRY_FIELDS.map((f) => batch.map((e) => e[f.key])),
      );
      entries += batch.length;
      batch = [];
    };
    for (const row of db.prepare<[], StoredEntry>(`SELECT ${ENTRY_COLUMNS} FROM entries ORDER BY seq`).iterate()) {
      batch.push(row);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    const sqliteHead = db
      .prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM chain_head WHERE id = 1')
      .get();
    if (sqliteHead)
      await client.query('UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1', [
        sqliteHead.seq,
        sqliteHead.hash,
      ]);
    const checkpoints = listCheckpoints(db);
    for (const c of checkpoints)
      await client.query(
        'INSERT INTO audit_checkpoints (seq, hash, count, ts, kid, instance, prev_sig, jws) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [c.seq, c.hash, c.count, c.ts, c.kid, c.instance, c.prevSig, c.jws],
      );
    const anchors = db
      .prepare<[], { seq: number; hash: string; ts: number; rows: number; before: number }>(
        'SELECT seq, hash, ts, rows, before FROM anchors ORDER BY seq',
      )
      .all();
    for (const a of anchors)
      await client.query('INSERT INTO audit_anchors (seq, hash, ts, rows, before) VALUES ($1, $2, $3, $4, $5)', [
        a.seq,
        a.hash,
        a.ts,
        a.rows,
        a.before,
      ]);
    // Instances copied as they were, except that none is running on PostgreSQL: a live one is marked stopped
    // now, so its open intents read unknown_outcome at the first replica's start.
    const instances = db
      .prepare<
        [],
        { id: string; host: string; pid: number; startedAt: number; stoppedAt: number | null; ended: string | null }
      >('SELECT id, host, pid, started_at AS startedAt, stopped_at AS stoppedAt, ended FROM instances')
      .all();
    for (const i of instances)
      await client.query(
        'INSERT INTO audit_instances (id, host, pid, started_at, stopped_at, ended) VALUES ($1, $2, $3, $4, $5, $6)',
        [i.id, i.host, i.pid, i.startedAt, i.stoppedAt ?? now, i.ended ?? 'copied'],
      );
    for (const o of db
      .prepare<[], { id: string; instance: string; seq: number }>('SELECT id, instance, seq FROM open_intents')
      .all())
      await client.query('INSERT INTO audit_open_intents (id, instance, seq) VALUES ($1, $2, $3)', [
        o.id,
        o.instance,
        o.seq,
      ]);
    for (const [kid, jwk] of publicKeys)
      await client.query(
        'INSERT INTO audit_keys (kid, jwk, instance, added_at) VALUES ($1, $2, $3, $4) ON CONFLICT (kid) DO NOTHING',
        [kid, JSON.stringify(jwk), 'store-copy', now],
      );
    // bigserial ids continue after the copied checkpoints.
    await client.query(
      "SELECT setval(pg_get_serial_sequence('audit_checkpoints', 'id'), GREATEST((SELECT max(id) FROM audit_checkpoints), 1))",
    );
    await client.query('COMMIT');
    return { entries, checkpoints: checkpoints.length, anchors: anchors.length };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
