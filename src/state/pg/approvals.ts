import { newRecordId } from '../../model/canonical.js';
import {
  approvalFromRaw,
  approvalRefusal,
  bindingDigest,
  bindingFields,
  type ApprovalBinding,
  type ApprovalRequest,
  type ApprovalRow,
  type ApprovalStatus,
  type RawApproval,
} from '../approval-rows.js';
import type { SharedApprovals } from '../shared.js';
import type { PgPool } from './pool.js';
import { PgTables } from './tables.js';

const MAX_LIST = 1_000;
/** The first key of the per-agent advisory lock approval requests take ("WA" "RQ"). */
const REQUEST_LOCK = 0x5741_5251;

/**
 * The approvals table on PostgreSQL, shared by every replica and the CLI: the same statements as on
 * state.db (src/state/sqlite-approvals.ts), each change of status one conditional UPDATE ... RETURNING, so
 * two replicas can never both decide or both spend one approval. A store failure is ERR_STATE_UNAVAILABLE
 * naming the operation (the approval stage refuses the call).
 */
export class PgApprovals extends PgTables implements SharedApprovals {
  async requestApproval(
    input: ApprovalRequest,
    maxOpenPerAgent: number,
  ): Promise<{ row: ApprovalRow; created: boolean } | { limited: { count: number; firstExpiry?: number } }> {
    const digest = bindingDigest(input.binding);
    const { issuer, subject, tenant } = input.binding;
    return this.transaction('request approval', async (client) => {
      // One agent's requests one at a time across replicas: identical calls share one request, and the
      // count of waiting ones cannot be overtaken between reading it and inserting.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
        REQUEST_LOCK,
        JSON.stringify([issuer, subject, tenant ?? null]),
      ]);
      const open = await client.query<RawApproval>(
        `SELECT * FROM approvals WHERE binding = $1 AND status = 'pending' AND channel = 'out-of-band' AND expires_at > $2
         ORDER BY created_at LIMIT 1`,
        [digest, input.now],
      );
      if (open.rows[0]) return { row: approvalFromRaw(open.rows[0]), created: false };
      if (Number.isFinite(maxOpenPerAgent)) {
        const waiting = await openFor(client, issuer, subject, input.now, tenant);
        if (waiting.count >= maxOpenPerAgent) return { limited: waiting };
      }
      return { row: await insert(client, { ...input, channel: 'out-of-band' }, digest), created: true };
    });
  }

  async createApproval(input: ApprovalRequest): Promise<ApprovalRow> {
    return this.run('request approval', (pool) => insert(pool, input, bindingDigest(input.binding)));
  }

  async consumeApproval(binding: ApprovalBinding, now: number): Promise<ApprovalRow | undefined> {
    // Replicas racing: each UPDATE waits for the row lock, then re-checks status and used_at on the row
    // the winner left (READ COMMITTED), finds it used, and changes nothing.
    const result = await this.run('use approval', (pool) =>
      pool.query<RawApproval>(
        `UPDATE approvals SET status = 'used', used_at = $2
         WHERE id = (SELECT id FROM approvals WHERE binding = $1 AND status = 'approved' AND expires_at > $2
                     ORDER BY created_at LIMIT 1)
           AND status = 'approved' AND used_at IS NULL
         RETURNING *`,
        [bindingDigest(binding), now],
      ),
    );
    return result.rows[0] && approvalFromRaw(result.rows[0]);
  }

  async useApproval(id: string, now: number): Promise<ApprovalRow> {
    const result = await this.run('use approval', (pool) =>
      pool.query<RawApproval>(
        `UPDATE approvals SET status = 'used', used_at = $1
         WHERE id = $2 AND status = 'approved' AND used_at IS NULL AND expires_at > $1 RETURNING *`,
        [now, id],
      ),
    );
    if (!result.rows[0]) throw approvalRefusal(id, await this.getApproval(id), now, 'use');
    return approvalFromRaw(result.rows[0]);
  }

  async expireDueApprovals(now: number, binding?: ApprovalBinding, limit = 100): Promise<ApprovalRow[]> {
    const result = await this.run('expire approvals', (pool) =>
      binding === undefined
        ? pool.query<RawApproval>(
            `UPDATE approvals SET status = 'expired'
             WHERE id IN (SELECT id FROM approvals WHERE status IN ('pending', 'approved') AND expires_at <= $1
                          ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
               AND status IN ('pending', 'approved')
             RETURNING *`,
            [now, Math.max(1, Math.trunc(limit))],
          )
        : pool.query<RawApproval>(
            `UPDATE approvals SET status = 'expired'
             WHERE binding = $1 AND status IN ('pending', 'approved') AND expires_at <= $2 RETURNING *`,
            [bindingDigest(binding), now],
          ),
    );
    return result.rows.map(approvalFromRaw);
  }

  async openApprovalsFor(
    issuer: string,
    subject: string,
    now: number,
    tenant?: string,
  ): Promise<{ count: number; firstExpiry?: number }> {
    return this.run('count approvals', (pool) => openFor(pool, issuer, subject, now, tenant));
  }

  async approveApproval(id: string, by: string, now: number): Promise<ApprovalRow> {
    return this.decide(id, 'approved', by, now, undefined);
  }

  async denyApproval(id: string, by: string, now: number, reason?: string): Promise<ApprovalRow> {
    return this.decide(id, 'denied', by, now, reason);
  }

  async expireApproval(id: string, now: number, reason?: string): Promise<ApprovalRow | undefined> {
    const result = await this.run('expire approval', (pool) =>
      pool.query<RawApproval>(
        `UPDATE approvals SET status = 'expired', decided_at = $1, reason = COALESCE($2, reason)
         WHERE id = $3 AND status IN ('pending', 'approved') RETURNING *`,
        [now, reason ?? null, id],
      ),
    );
    return result.rows[0] && approvalFromRaw(result.rows[0]);
  }

  async getApproval(id: string): Promise<ApprovalRow | undefined> {
    const result = await this.run('read approval', (pool) =>
      pool.query<RawApproval>('SELECT * FROM approvals WHERE id = $1', [id]),
    );
    return result.rows[0] && approvalFromRaw(result.rows[0]);
  }

  async listApprovals(
    filter: { status?: ApprovalStatus; limit?: number; offset?: number } = {},
  ): Promise<ApprovalRow[]> {
    const limit = Math.min(Math.max(1, Math.trunc(filter.limit ?? 200)), MAX_LIST);
    const offset = Math.max(0, Math.trunc(filter.offset ?? 0));
    const result = await this.run('list approvals', (pool) =>
      filter.status === undefined
        ? pool.query<RawApproval>('SELECT * FROM approvals ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2', [
            limit,
            offset,
          ])
        : pool.query<RawApproval>(
            'SELECT * FROM approvals WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3',
            [filter.status, limit, offset],
          ),
    );
    return result.rows.map(approvalFromRaw);
  }

  private async decide(
    id: string,
    status: 'approved' | 'denied',
    by: string,
    now: number,
    reason: string | undefined,
  ): Promise<ApprovalRow> {
    const result = await this.run(status === 'approved' ? 'approve' : 'deny', (pool) =>
      pool.query<RawApproval>(
        `UPDATE approvals SET status = $1, decided_at = $2, decided_by = $3, reason = $4
         WHERE id = $5 AND status = 'pending' AND expires_at > $2 RETURNING *`,
        [status, now, by, reason ?? null, id],
      ),
    );
    if (!result.rows[0])
      throw approvalRefusal(id, await this.getApproval(id), now, status === 'approved' ? 'approve' : 'deny');
    return approvalFromRaw(result.rows[0]);
  }
}

type Queryable = Pick<PgPool, 'query'>;

async function openFor(
  db: Queryable,
  issuer: string,
  subject: string,
  now: number,
  tenant: string | undefined,
): Promise<{ count: number; firstExpiry?: number }> {
  const result = await db.query<{ count: string; first: string | null }>(
    `SELECT COUNT(*) AS count, MIN(expires_at) AS first FROM approvals
     WHERE issuer = $1 AND subject = $2 AND tenant IS NOT DISTINCT FROM $3 AND status = 'pending' AND expires_at > $4`,
    [issuer, subject, tenant ?? null, now],
  );
  const row = result.rows[0]!;
  return { count: Number(row.count), ...(row.first !== null && { firstExpiry: Number(row.first) }) };
}

async function insert(db: Queryable, input: ApprovalRequest, digest: string): Promise<ApprovalRow> {
  const f = bindingFields(input.binding);
  const result = await db.query<RawApproval>(
    `INSERT INTO approvals (id, binding, status, channel, issuer, subject, tenant, task_id, server, tool,
                            definition_hash, arguments_digest, summary, call_id, created_at, expires_at)
     VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *`,
    [
      newRecordId(input.now),
      digest,
      input.channel,
      f.issuer,
      f.subject,
      f.tenant,
      f.taskId,
      f.server,
      f.tool,
      f.definitionHash,
      f.argumentsDigest,
      JSON.stringify(input.summary),
      input.callId ?? null,
      input.now,
      input.now + input.ttlMs,
    ],
  );
  return approvalFromRaw(result.rows[0]!);
}
