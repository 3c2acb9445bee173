import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { AuditBackend, CommitHooks } from '../backend.js';
import type { EntryInput, StoredEntry } from '../chain.js';
import { signPayload, signatureOf, type CheckpointPayload, type SignerKey } from '../checkpoints.js';
import { unknownOutcomeEntry } from '../record.js';
import type { EntryRole } from '../writer.js';
import { PG_ENTRY_COLUMNS, toStoredEntry, type PgEntryRow } from './rows.js';
import type { PgPool } from '../../state/pg/pool.js';
import { appendEntries, PgGroupCommitWriter } from './writer.js';

export interface PgBackendOptions {
  pool: PgPool;
  instance: string;
  logger: Logger;
  /** How often this replica says it is alive (and reconciles replicas that are not). */
  heartbeatMs?: number;
  /** A replica not heard from for this long is dead: its open intents become `unknown_outcome`. */
  leaseMs?: number;
  /** Public keys (kid → JWK) this replica signs checkpoints with, published so reviewers verify every replica. */
  publicKeys?: ReadonlyMap<string, object>;
}

export const DEFAULT_HEARTBEAT_MS = 5_000;
export const DEFAULT_LEASE_MS = 30_000;

interface InstanceState {
  instance: string;
  host: string | null;
  pid: number | null;
  stopped: boolean;
  expired: boolean;
}

/** True while a process with this PID exists on this machine (EPERM still means it exists). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The audit store on PostgreSQL, shared by every replica. Each replica is one row of `audit_instances`
 * whose `last_seen` it refreshes every `heartbeatMs` (the database's clock, so replicas' clocks need not
 * agree). A replica is known dead when it stopped, when it has not been seen for `leaseMs`, or, on the
 * same host, when its process is gone; any live replica then appends `unknown_outcome` for its open
 * intents (at its own start and at every heartbeat), under the chain's lock, once.
 */
export class PgBackend implements AuditBackend {
  readonly kind = 'postgres';
  readonly hooks: CommitHooks = {};
  private readonly writer: PgGroupCommitWriter;
  private heartbeat: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private bytes: number | undefined;
  private closed = false;

  constructor(private readonly options: PgBackendOptions) {
    this.writer = new PgGroupCommitWriter(options.pool, options.instance, options.logger, this.hooks);
  }

  get pool(): PgPool {
    return this.options.pool;
  }

  write(entry: EntryInput, role: EntryRole): Promise<number> {
    return this.writer.write(entry, role);
  }

  flush(): Promise<void> {
    return this.writer.flush();
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

  async register(instance: string, host: string, pid: number, now: number): Promise<void> {
    const { pool } = this.options;
    await pool.query('INSERT INTO audit_instances (id, host, pid, started_at) VALUES ($1, $2, $3, $4)', [
      instance,
      host,
      pid,
      now,
    ]);
    for (const [kid, jwk] of this.options.publicKeys ?? [])
      await pool.query(
        'INSERT INTO audit_keys (kid, jwk, instance, added_at) VALUES ($1, $2, $3, $4) ON CONFLICT (kid) DO NOTHING',
        [kid, JSON.stringify(jwk), instance, now],
      );
    await this.refreshSize();
    const every = this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.heartbeat = setInterval(() => {
      this.beating ??= this.beat().finally(() => (this.beating = undefined));
    }, every);
    this.heartbeat.unref();
  }

  /** Says this replica is alive, then reconciles replicas that are not. Failures are logged, never thrown. */
  private async beat(): Promise<void> {
    try {
      await this.options.pool.query('UPDATE audit_instances SET last_seen = now() WHERE id = $1', [
        this.options.instance,
      ]);
      const recovered = await this.recover(this.options.instance, Date.now());
      if (recovered.count > 0) {
        this.options.logger.warn(
          { intents: recovered.count, instances: recovered.instances },
          'intents left open by a replica that died were marked unknown_outcome',
        );
        this.hooks.onRecovered?.(recovered);
      }
      await this.refreshSize();
    } catch (error) {
      this.options.logger.warn({ err: describe(error) }, 'audit heartbeat failed; retrying');
    }
  }

  private async refreshSize(): Promise<void> {
    const row = await this.options.pool.query<{ n: string }>(
      "SELECT pg_total_relation_size('audit_entries')::bigint AS n",
    );
    this.bytes = Number(row.rows[0]?.n ?? 0);
  }

  async recover(self: string, now: number): Promise<{ count: number; instances: string[] }> {
    const { pool } = this.options;
    const lease = this.options.leaseMs ?? DEFAULT_LEASE_MS;
    const states = await pool.query<InstanceState>(
      `SELECT o.instance, i.host, i.pid, i.stopped_at IS NOT NULL AS stopped,
              COALESCE(i.last_seen < now() - make_interval(secs => $2::double precision / 1000), true) AS expired
       FROM (SELECT DISTINCT instance FROM audit_open_intents WHERE instance <> $1) o
       LEFT JOIN audit_instances i ON i.id = o.instance`,
      [self, lease],
    );
    const here = hostname();
    const dead = states.rows
      .filter((s) => s.host === null || s.stopped || s.expired || (s.host === here && !isAlive(s.pid!)))
      .map((s) => s.instance);
    const recovered: string[] = [];
    let count = 0;
    for (const instance of dead) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // The chain's lock first, as every append takes it: no deadlock with a late writer of these intents.
        await client.query('SELECT 1 FROM audit_chain_head WHERE id = 1 FOR UPDATE');
        const open = await client.query<{ seq: string }>(
          'DELETE FROM audit_open_intents WHERE instance = $1 RETURNING seq',
          [instance],
        );
        if (open.rows.length > 0) {
          const intents = await client.query<PgEntryRow>(
            `SELECT ${PG_ENTRY_COLUMNS} FROM audit_entries WHERE seq = ANY($1::bigint[]) ORDER BY seq`,
            [open.rows.map((r) => r.seq)],
          );
          const reason = `gateway instance ${instance} stopped before recording an outcome (crash, kill, lost audit write or lost its database for longer than the lease)`;
          const entries = intents.rows.map((row: PgEntryRow) =>
            unknownOutcomeEntry(toStoredEntry(row) as StoredEntry, self, now, reason),
          );
          if (entries.length > 0)
            await appendEntries(
              client,
              self,
              entries.map((entry) => ({ entry, role: 'outcome' as const })),
            );
          count += entries.length;
          recovered.push(instance);
        }
        await client.query(
          "UPDATE audit_instances SET stopped_at = $1, ended = 'crashed' WHERE id = $2 AND stopped_at IS NULL",
          [now, instance],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    }
    await pool.query(
      `UPDATE audit_instances SET stopped_at = $1, ended = 'crashed'
       WHERE stopped_at IS NULL AND id <> $2 AND last_seen < now() - make_interval(secs => $3::double precision / 1000)`,
      [now, self, lease],
    );
    return { count, instances: recovered };
  }

  async checkpoint(
    signer: SignerKey,
    instance: string,
    now: number,
  ): Promise<{ seq: number; kid: string } | undefined> {
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN');
      const head = (
        await client.query<{ seq: string; hash: string }>(
          'SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE',
        )
      ).rows[0]!;
      const last = (
        await client.query<{ seq: string; jws: string }>(
          'SELECT seq, jws FROM audit_checkpoints ORDER BY id DESC LIMIT 1',
        )
      ).rows[0];
      const seq = Number(head.seq);
      if (seq === 0 || (last && Number(last.seq) >= seq)) {
        await client.query('COMMIT');
        return undefined;
      }
      const prev = last ? signatureOf(last.jws) : null;
      const payload: CheckpointPayload = {
        v: 1,
        seq,
        hash: head.hash,
        count: seq,
        ts: now,
        kid: signer.kid,
        instance,
        prev,
      };
      const jws = signPayload(payload, signer);
      await client.query(
        'INSERT INTO audit_checkpoints (seq, hash, count, ts, kid, instance, prev_sig, jws) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [seq, head.hash, seq, now, signer.kid, instance, prev, jws],
      );
      await client.query('COMMIT');
      return { seq, kid: signer.kid };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async markStopped(instance: string, now: number): Promise<void> {
    await this.options.pool.query("UPDATE audit_instances SET stopped_at = $1, ended = 'stopped' WHERE id = $2", [
      now,
      instance,
    ]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.writer.stop();
    await this.beating;
    await this.options.pool.end();
  }

  databaseBytes(): number | undefined {
    return this.closed ? undefined : this.bytes;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
