import type { StoredEntry } from '../chain.js';
import type { CheckpointRow } from '../checkpoints.js';
import { verifyFrom, type ExternalCheckpoints, type VerifyReport } from '../verify.js';
import { PG_ENTRY_COLUMNS, toStoredEntry, type PgEntryRow } from './rows.js';
import type { PgPool } from '../../state/pg/pool.js';

const PAGE = 5_000;

/** Every entry in seq order, a page at a time (keyset: each page starts after the last seq seen). */
export async function* pgEntries(pool: Pick<PgPool, 'query'>, afterSeq = 0): AsyncGenerator<StoredEntry> {
  let after = afterSeq;
  for (;;) {
    const page = await pool.query<PgEntryRow>(
      `SELECT ${PG_ENTRY_COLUMNS} FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`,
      [after],
    );
    for (const row of page.rows) yield toStoredEntry(row);
    if (page.rows.length < PAGE) return;
    after = Number(page.rows.at(-1)!.seq);
  }
}

interface PgCheckpointRow {
  id: string;
  seq: string;
  hash: string;
  count: string;
  ts: string;
  kid: string;
  instance: string;
  prevSig: string | null;
  jws: string;
}

/** Every checkpoint, oldest first; with `last`, only the last that many (still oldest first). */
export async function pgCheckpoints(pool: Pick<PgPool, 'query'>, last?: number): Promise<CheckpointRow[]> {
  const columns = 'id, seq, hash, count, ts, kid, instance, prev_sig AS "prevSig", jws';
  const rows = await pool.query<PgCheckpointRow>(
    last === undefined
      ? `SELECT ${columns} FROM audit_checkpoints ORDER BY id`
      : `SELECT * FROM (SELECT ${columns} FROM audit_checkpoints ORDER BY id DESC LIMIT $1) c ORDER BY id`,
    last === undefined ? [] : [last],
  );
  return rows.rows.map((r) => ({
    ...r,
    id: Number(r.id),
    seq: Number(r.seq),
    count: Number(r.count),
    ts: Number(r.ts),
  }));
}

/** The public keys replicas published (kid → JWK). */
export async function pgPublishedKeys(pool: Pick<PgPool, 'query'>): Promise<Map<string, object>> {
  const rows = await pool.query<{ kid: string; jwk: string }>('SELECT kid, jwk FROM audit_keys');
  return new Map(rows.rows.map((r) => [r.kid, JSON.parse(r.jwk) as object]));
}

/** `audit verify` on PostgreSQL: the same walk and findings as on SQLite (src/audit/verify.ts). */
export async function verifyPgChain(
  pool: Pick<PgPool, 'query'>,
  publicKeys: ReadonlyMap<string, object>,
  external?: ExternalCheckpoints,
): Promise<VerifyReport> {
  const anchor = (
    await pool.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_anchors ORDER BY seq DESC LIMIT 1')
  ).rows[0];
  const head = (await pool.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_chain_head WHERE id = 1'))
    .rows[0];
  const facts = {
    anchor: anchor ? { seq: Number(anchor.seq), hash: anchor.hash } : null,
    // An empty chain's head row is the genesis (seq 0), as SQLite's missing row reads.
    head: head && Number(head.seq) > 0 ? { seq: Number(head.seq), hash: head.hash } : undefined,
    checkpoints: await pgCheckpoints(pool),
  };
  return verifyFrom(
    facts,
    pgEntries(pool, 0),
    {
      // One scan for all of them: no index on hash (it would cost every append one more index insert).
      seqsOfHashes: async (hashes) => {
        const rows = await pool.query<{ seq: string; hash: string }>(
          'SELECT seq, hash FROM audit_entries WHERE hash = ANY($1::text[])',
          [hashes],
        );
        return new Map(rows.rows.map((r) => [r.hash, Number(r.seq)]));
      },
      prunedEvents: async (seq, hash) =>
        Number(
          (
            await pool.query<{ n: string }>(
              `SELECT count(*) AS n FROM audit_entries WHERE kind = 'event' AND type = 'audit.pruned'
               AND (body::jsonb #>> '{data,upTo}') = $1 AND (body::jsonb #>> '{data,anchorHash}') = $2`,
              [String(seq), hash],
            )
          ).rows[0]!.n,
        ),
      openOfStopped: async () =>
        Number(
          (
            await pool.query<{ n: string }>(
              'SELECT count(*) AS n FROM audit_open_intents o JOIN audit_instances i ON i.id = o.instance WHERE i.stopped_at IS NOT NULL',
            )
          ).rows[0]!.n,
        ),
    },
    publicKeys,
    external,
  );
}
