// Approvals on PostgreSQL (issue 19): the approval stage of two replicas, each with its own pool on one
// real PostgreSQL. An approval requested through one replica and granted by a reviewer is used by the
// identical call through the other, once; replicas racing for one approval spend it once; with the store
// cut (a real TCP proxy) a call needing approval is refused, never run. `mcp-warden approvals` with the
// same store lists and approves it there, and records the decision in the audit log on PostgreSQL.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStoreSchema } from '../../src/config/store-schema.js';
import { StoreApprover } from '../../src/integrity/approver.js';
import { createLogger } from '../../src/observe/logger.js';
import type { CallContext } from '../../src/pipeline/context.js';
import type { Outcome } from '../../src/pipeline/denial.js';
import type { AuditEvent } from '../../src/pipeline/stages.js';
import { openPgPool } from '../../src/state/pg/open.js';
import type { PgPool } from '../../src/state/pg/pool.js';
import { PgSharedState } from '../../src/state/pg/shared.js';
import { runCliAsync } from '../helpers/cli.js';
import { usePostgres } from '../helpers/postgres.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const db = usePostgres();
const logger = createLogger({ level: 'silent' });
const SCHEMA = 'shared_approvals';

let dir: TempDir;
let proxy: TcpProxy;
const pools: PgPool[] = [];
const events: AuditEvent[] = [];

beforeAll(async () => {
  dir = await makeTempDir('warden-shared-approvals');
  const target = new URL(db.url);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
});
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)));
  await proxy?.close();
  await dir?.cleanup();
});

async function store(url: string = db.url): Promise<PgSharedState> {
  const config = PostgresStoreSchema.parse({
    kind: 'postgres',
    url,
    schema: SCHEMA,
    connectTimeoutMs: 1_000,
    statementTimeoutMs: 1_000,
  });
  const { pool } = await openPgPool(config, dir.path);
  pools.push(pool);
  return new PgSharedState(pool);
}

/** One replica's approval stage, as `serve` builds it with `store.kind: postgres`. */
async function replica(name: string, url?: string): Promise<StoreApprover> {
  return new StoreApprover({
    // Each replica has its own data folder: an approval kept there would be seen by no other replica.
    stateFile: `${dir.path}/${name}/state.db`,
    audit: {
      event: async (event) => {
        events.push(event);
        return { ok: true, value: undefined };
      },
      recordId: () => `record-${name}`,
    },
    ttlMs: 60_000,
    logger,
    redact: (text) => text,
    shared: await store(url),
  });
}

function call(amount: number): CallContext {
  return {
    requestId: 'r',
    ingress: 'http',
    jsonrpcId: 1,
    traceId: 't',
    principal: { subject: 'agent-1', issuer: 'urn:iss', delegation: [], scopes: [], authMethod: 'jwt' },
    method: 'tools/call',
    server: 'fx',
    target: 'fx__pay',
    downstreamTarget: 'pay',
    arguments: { amount },
    startedAt: Date.now(),
    definitionHash: 'sha256:def',
  };
}

/** The approval id a refused call names. */
function approvalOf(outcome: Outcome<unknown>): string {
  if (outcome.ok || outcome.denial.kind !== 'approval_required' || !outcome.denial.approval)
    throw new Error(`not waiting for an approval: ${JSON.stringify(outcome)}`);
  return outcome.denial.approval.id;
}

function viaProxy(): string {
  const url = new URL(db.url);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return url.toString();
}

describe('approvals shared by replicas on PostgreSQL', () => {
  let a: StoreApprover;
  let b: StoreApprover;
  let reviewer: PgSharedState;
  beforeAll(async () => {
    a = await replica('a');
    b = await replica('b');
    reviewer = await store();
  });

  it('requested through one replica, granted by a reviewer, used through the other, once', async () => {
    const asked = await a.approve(call(5), Date.now());
    expect(asked).toMatchObject({ ok: false, denial: { kind: 'approval_required', approval: { status: 'pending' } } });
    const id = approvalOf(asked);
    // The identical call through the other replica waits on the same request, not a new one.
    expect(await b.approve(call(5), Date.now())).toMatchObject({ ok: false, denial: { approval: { id } } });
    await reviewer.approveApproval(id, 'alice', Date.now());
    expect(await b.approve(call(5), Date.now())).toEqual({ ok: true, value: { approvalId: id } });
    const after = await a.approve(call(5), Date.now());
    expect(after).toMatchObject({ ok: false, denial: { approval: { status: 'pending' } } });
    expect(approvalOf(after)).not.toBe(id);
    expect(events.filter((e) => e.type === 'approval.use').map((e) => e.data?.approvalId)).toEqual([id]);
  });

  it('replicas racing for one approval: exactly one call runs', async () => {
    const asked = await b.approve(call(7), Date.now());
    const id = approvalOf(asked);
    await reviewer.approveApproval(id, 'alice', Date.now());
    const now = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).approve(call(7), now)),
    );
    expect(outcomes.filter((o) => o.ok)).toEqual([{ ok: true, value: { approvalId: id } }]);
    expect((await reviewer.getApproval(id))?.status).toBe('used');
  });

  it('with the store unreachable a call needing approval is refused, not run', async () => {
    const cut = await replica('c', viaProxy());
    const asked = await cut.approve(call(9), Date.now());
    const id = approvalOf(asked);
    await reviewer.approveApproval(id, 'alice', Date.now());
    proxy.cut();
    try {
      expect(await cut.approve(call(9), Date.now())).toMatchObject({
        ok: false,
        denial: { kind: 'approval_required', reason: expect.stringMatching(/^approvals unavailable: store: /) },
      });
    } finally {
      proxy.restore();
    }
    expect((await reviewer.getApproval(id))?.status).toBe('approved');
    expect(await cut.approve(call(9), Date.now())).toEqual({ ok: true, value: { approvalId: id } });
  });

  it('a reviewer approves with the CLI on the shared store; the decision is in the audit log there', async () => {
    const config = join(dir.path, 'reviewer.json');
    await writeFile(
      config,
      JSON.stringify({ version: 1, servers: {}, store: { kind: 'postgres', url: db.url, schema: SCHEMA } }),
    );
    const asked = await a.approve(call(11), Date.now());
    const id = approvalOf(asked);
    const listed = await runCliAsync(config, ['approvals', 'list', '--json']);
    expect(listed.stderr).toBe('');
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((row) => row.id)).toContain(id);
    const approved = await runCliAsync(config, ['approvals', 'approve', id]);
    expect(approved.stderr).toBe('');
    expect(approved.stdout).toMatch(new RegExp(`^approved ${id}: fx__pay for agent-1 may run once`));
    expect(await b.approve(call(11), Date.now())).toEqual({ ok: true, value: { approvalId: id } });
    const again = await runCliAsync(config, ['approvals', 'deny', id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already used/);
    const grants = await pools[0]!.query<{ body: string }>(
      "SELECT body FROM audit_entries WHERE kind = 'event' AND type = 'approval.grant'",
    );
    expect(grants.rows).toHaveLength(1);
    expect(grants.rows[0]!.body).toContain(id);
    expect(grants.rows[0]!.body).toContain('"via":"cli"');
    const verified = await runCliAsync(config, ['audit', 'verify']);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  }, 60_000);
});
