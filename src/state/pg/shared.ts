import {
  takeFromBuckets,
  type AgentRevocationRow,
  type BucketRow,
  type RateKey,
  type RateTake,
  type RevocationSnapshot,
  type EndReason,
  type SharedState,
  type SigningKeyRow,
  type TaskKey,
  type TaskRow,
} from '../shared.js';
import { TASK_COLUMNS, taskFromRaw, taskValues, type RawTask } from '../task-rows.js';
import type { Observation, PinEvent, PinFilter, PinKey, PinRow, PinState, ServerPinning } from '../pin-rows.js';
import { PgApprovals } from './approvals.js';
import { PgPins } from './pins.js';
import type { PgPool } from './pool.js';

/** Expired spent ids forgotten per spend, at most. */
const SPENT_SWEEP = 64;

/**
 * SharedState on PostgreSQL: every replica on the database shares it. Writes fire the state tables'
 * NOTIFY trigger (src/state/pg/schema.ts), so other replicas re-read their caches within a round trip.
 * A failure is ERR_STATE_UNAVAILABLE naming the operation: callers refuse the call (fail closed).
 */
export class PgSharedState extends PgApprovals implements SharedState {
  readonly kind = 'postgres';
  private readonly pins: PgPins;

  constructor(pool: PgPool) {
    super(pool);
    this.pins = new PgPins(pool);
  }

  listPins(filter?: PinFilter): Promise<PinRow[]> {
    return this.pins.listPins(filter);
  }

  findPins(ref: string): Promise<PinRow[]> {
    return this.pins.findPins(ref);
  }

  pinStatuses(): Promise<PinState[]> {
    return this.pins.pinStatuses();
  }

  getPin(key: PinKey): Promise<PinRow | undefined> {
    return this.pins.getPin(key);
  }

  observePins(
    observations: readonly Observation[],
    pinningOf: (server: string) => ServerPinning,
    now: number,
  ): Promise<PinEvent[]> {
    return this.pins.observePins(observations, pinningOf, now);
  }

  approvePin(key: PinKey, by: string, now: number, expectedHash?: string): Promise<PinRow> {
    return this.pins.approvePin(key, by, now, expectedHash);
  }

  rejectPin(key: PinKey, by: string, now: number, expectedHash?: string): Promise<PinRow> {
    return this.pins.rejectPin(key, by, now, expectedHash);
  }

  /**
   * One statement: a few expired ids forgotten, and this one inserted unless any replica spent it before
   * (the primary key decides: of replicas racing with one id, exactly one inserts it).
   */
  async spendOnce(id: string, expiresAt: number, now: number): Promise<boolean> {
    const result = await this.run('spend request state', (pool) =>
      pool.query(
        `WITH pruned AS (
           DELETE FROM spent_states WHERE id IN (SELECT id FROM spent_states WHERE expires_at <= $3 LIMIT $4)
         )
         INSERT INTO spent_states (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
        [id, expiresAt, now, SPENT_SWEEP],
      ),
    );
    return result.rowCount === 1;
  }

  /** The agent's revocation and the end of its open tasks, in one transaction. */
  async revokeAgent(revocation: AgentRevocationRow): Promise<void> {
    await this.transaction('revoke agent', async (client) => {
      await client.query(
        `INSERT INTO agent_revocations (subject, issuer, revoked_at, reason) VALUES ($1, $2, $3, $4)
         ON CONFLICT (subject, issuer) DO UPDATE SET revoked_at = excluded.revoked_at, reason = excluded.reason`,
        [revocation.subject, revocation.issuer, revocation.revokedAt, revocation.reason ?? null],
      );
      await client.query(
        `UPDATE tasks SET ended_at = $1, end_reason = 'revoked'
         WHERE subject = $2 AND ($3::text = '*' OR issuer = $3) AND ended_at IS NULL`,
        [revocation.revokedAt, revocation.subject, revocation.issuer],
      );
    });
  }

  async revokeToken(tokenId: string, at: number, reason?: string): Promise<boolean> {
    const result = await this.run('revoke token', (pool) =>
      pool.query(
        'INSERT INTO token_revocations (token_id, revoked_at, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [tokenId, at, reason ?? null],
      ),
    );
    return result.rowCount === 1;
  }

  async revokeTaskId(taskId: string, at: number): Promise<boolean> {
    return this.transaction('revoke task', async (client) => {
      const ended = await client.query(
        "UPDATE tasks SET ended_at = $1, end_reason = 'revoked' WHERE id = $2 AND ended_at IS NULL",
        [at, taskId],
      );
      const recorded = await client.query(
        'INSERT INTO task_revocations (task_id, revoked_at) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [taskId, at],
      );
      return (ended.rowCount ?? 0) > 0 || recorded.rowCount === 1;
    });
  }

  async insertTask(task: TaskRow): Promise<boolean> {
    const result = await this.run('record task', (pool) =>
      pool.query(
        `INSERT INTO tasks (${TASK_COLUMNS.join(', ')}) VALUES (${TASK_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})
         ON CONFLICT DO NOTHING`,
        taskValues(task),
      ),
    );
    return result.rowCount === 1;
  }

  async endTask(key: TaskKey, at: number, reason: EndReason): Promise<boolean> {
    const result = await this.run('end task', (pool) =>
      pool.query(
        'UPDATE tasks SET ended_at = $1, end_reason = $2 WHERE id = $3 AND issuer = $4 AND subject = $5 AND ended_at IS NULL',
        [at, reason, key.id, key.issuer, key.subject],
      ),
    );
    return (result.rowCount ?? 0) > 0;
  }

  async tasksById(id: string, limit = 20): Promise<TaskRow[]> {
    const result = await this.run('read task', (pool) =>
      pool.query<RawTask>('SELECT * FROM tasks WHERE id = $1 ORDER BY created_at DESC LIMIT $2', [id, limit]),
    );
    return result.rows.map(taskFromRaw);
  }

  async listTasks(options: { all: boolean; now: number; limit?: number }): Promise<TaskRow[]> {
    const where = options.all ? '' : 'WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > $1)';
    const result = await this.run('list tasks', (pool) =>
      pool.query<RawTask>(
        `SELECT * FROM tasks ${where} ORDER BY created_at DESC LIMIT $${options.all ? 1 : 2}`,
        options.all ? [options.limit ?? 1_000] : [options.now, options.limit ?? 1_000],
      ),
    );
    return result.rows.map(taskFromRaw);
  }

  async revocations(now: number): Promise<RevocationSnapshot> {
    return this.run('read revocations', async (pool) => {
      const [agents, tokens, tasks] = await Promise.all([
        pool.query<{ subject: string; issuer: string; revoked_at: string; reason: string | null }>(
          'SELECT subject, issuer, revoked_at, reason FROM agent_revocations',
        ),
        pool.query<{ token_id: string }>('SELECT token_id FROM token_revocations'),
        pool.query<{ id: string }>(
          `SELECT id FROM tasks WHERE end_reason = 'revoked' AND (expires_at IS NULL OR expires_at > $1)
           UNION SELECT task_id FROM task_revocations`,
          [now],
        ),
      ]);
      return {
        agents: agents.rows.map((r) => ({
          subject: r.subject,
          issuer: r.issuer,
          revokedAt: Number(r.revoked_at),
          ...(r.reason !== null && { reason: r.reason }),
        })),
        tokenIds: new Set(tokens.rows.map((r) => r.token_id)),
        taskIds: new Set(tasks.rows.map((r) => r.id)),
      };
    });
  }

  /**
   * One transaction: the buckets' rows are created if missing and locked in key order (so two replicas
   * taking overlapping keys cannot deadlock), refilled and taken from, all or none, then written back.
   */
  async takeRate(keys: readonly RateKey[], now: number): Promise<RateTake> {
    if (keys.length === 0) return { ok: true };
    const names = [...new Set(keys.map((k) => k.key))].sort();
    return this.run('rate limit', async (pool) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // A missing bucket starts full: updated_at = now leaves it full after the refill.
        const full = names.map((name) => keys.find((k) => k.key === name)!.calls);
        await client.query(
          `INSERT INTO rate_buckets (key, tokens, updated_at, full_at)
           SELECT k, t, $3, $3 FROM unnest($1::text[], $2::float8[]) AS u(k, t) ON CONFLICT (key) DO NOTHING`,
          [names, full, now],
        );
        const locked = await client.query<{ key: string; tokens: number; updated_at: string }>(
          'SELECT key, tokens, updated_at FROM rate_buckets WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE',
          [names],
        );
        const found = new Map<string, BucketRow>(
          locked.rows.map((r) => [r.key, { tokens: r.tokens, updatedAt: Number(r.updated_at) }]),
        );
        const { answer, rows } = takeFromBuckets(keys, found, now);
        await client.query(
          `UPDATE rate_buckets b SET tokens = u.t, updated_at = u.at, full_at = u.f
           FROM unnest($1::text[], $2::float8[], $3::bigint[], $4::bigint[]) AS u(k, t, at, f) WHERE b.key = u.k`,
          [rows.map((r) => r.key), rows.map((r) => r.tokens), rows.map((r) => r.updatedAt), rows.map((r) => r.fullAt)],
        );
        await client.query('COMMIT');
        return answer;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    });
  }

  async publishSigningKeys(keys: readonly SigningKeyRow[]): Promise<void> {
    if (keys.length === 0) return;
    await this.run('publish signing keys', (pool) =>
      pool.query(
        `INSERT INTO signing_keys (kid, public_jwk, created_at, retired_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
         ON CONFLICT (kid) DO UPDATE SET retired_at = COALESCE(signing_keys.retired_at, excluded.retired_at)
         WHERE signing_keys.retired_at IS NULL AND excluded.retired_at IS NOT NULL`,
        [
          keys.map((k) => k.kid),
          keys.map((k) => JSON.stringify(k.publicJwk)),
          keys.map((k) => k.createdAt),
          keys.map((k) => k.retiredAt ?? null),
        ],
      ),
    );
  }

  async signingKeys(): Promise<SigningKeyRow[]> {
    const result = await this.run('read signing keys', (pool) =>
      pool.query<{ kid: string; public_jwk: string; created_at: string; retired_at: string | null }>(
        'SELECT kid, public_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at, kid',
      ),
    );
    return result.rows.map((r) => ({
      kid: r.kid,
      publicJwk: JSON.parse(r.public_jwk) as Record<string, unknown>,
      createdAt: Number(r.created_at),
      ...(r.retired_at !== null && { retiredAt: Number(r.retired_at) }),
    }));
  }

  /** Buckets that have refilled completely start full again anyway: forget them. */
  async sweepRate(now: number): Promise<number> {
    const result = await this.run('rate limit sweep', (pool) =>
      pool.query('DELETE FROM rate_buckets WHERE full_at <= $1', [now]),
    );
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {}
}
