// One contract for the shared-state store (src/state/shared.ts), run against SQLite (state.db) and
// PostgreSQL: revocations read back whole, rate-limit buckets taken all-or-none and counted across
// every instance on the store (a limit of N is N in total), tasks recorded by one instance found and
// seen ended by the other, approvals requested on one, decided and spent once across both (instances
// racing to spend one: exactly one wins), definition pins seen by one and decided on the other (instances
// racing to record one change: recorded once), single-use ids spent once across both, and on PostgreSQL a
// write on one replica announced to another's LISTEN.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteSharedState } from '../../src/state/sqlite-shared.js';
import { PgSharedState } from '../../src/state/pg/shared.js';
import { openPgPool } from '../../src/state/pg/open.js';
import { PgStoreLink } from '../../src/state/pg/link.js';
import type { PgPool } from '../../src/state/pg/pool.js';
import type { SharedState, TaskRow } from '../../src/state/shared.js';
import type { ApprovalBinding, ApprovalRequest } from '../../src/state/approval-rows.js';
import type { Observation, ServerPinning } from '../../src/state/pin-rows.js';
import { PostgresStoreSchema } from '../../src/config/store-schema.js';
import { usePostgres } from '../helpers/postgres.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const db = usePostgres();
let dir: TempDir;
const pools: PgPool[] = [];
let schemas = 0;

beforeAll(async () => {
  dir = await makeTempDir('warden-contract');
});
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
  await dir?.cleanup();
});

/** Two instances on one fresh store (two replicas, or two processes on one data folder). */
interface Pair {
  a: SharedState;
  b: SharedState;
}

const stores: { name: string; open: () => Promise<Pair> }[] = [
  {
    name: 'sqlite',
    open: async () => {
      const file = join(dir.path, `state-${(schemas += 1)}.db`);
      return { a: new SqliteSharedState(file), b: new SqliteSharedState(file) };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const config = PostgresStoreSchema.parse({ kind: 'postgres', url: db.url, schema: `contract_${(schemas += 1)}` });
      const first = await openPgPool(config, dir.path);
      const second = await openPgPool(config, dir.path);
      pools.push(first.pool, second.pool);
      return { a: new PgSharedState(first.pool), b: new PgSharedState(second.pool) };
    },
  },
];

describe.each(stores)('shared state on $name', ({ open }) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await open();
  });
  afterAll(async () => {
    await pair?.a.close();
    await pair?.b.close();
  });

  it('a revoked token, agent and task id are in the snapshot every instance reads', async () => {
    expect(await pair.a.revokeToken('jti-1', 1_000, 'leaked')).toBe(true);
    expect(await pair.b.revokeToken('jti-1', 2_000)).toBe(false);
    await pair.a.revokeAgent({ subject: 'agent-7', issuer: '*', revokedAt: 1_500, reason: 'left the team' });
    await pair.a.revokeAgent({ subject: 'agent-7', issuer: '*', revokedAt: 3_000 });
    expect(await pair.b.revokeTaskId('task-9', 1_000)).toBe(true);
    expect(await pair.a.revokeTaskId('task-9', 1_000)).toBe(false);
    const seen = await pair.b.revocations(5_000);
    expect([...seen.tokenIds]).toEqual(['jti-1']);
    expect(seen.agents).toEqual([{ subject: 'agent-7', issuer: '*', revokedAt: 3_000 }]);
    expect([...seen.taskIds]).toEqual(['task-9']);
  });

  it('a bucket gives its burst, then refuses with the wait until the next token, and refills with time', async () => {
    const limit = [{ key: 'burst', calls: 3, perSeconds: 60 }];
    for (let i = 0; i < 3; i += 1) expect(await pair.a.takeRate(limit, 10_000)).toEqual({ ok: true });
    expect(await pair.b.takeRate(limit, 10_000)).toEqual({ ok: false, retryAfterMs: 20_000 });
    expect(await pair.b.takeRate(limit, 25_000)).toEqual({ ok: false, retryAfterMs: 5_000 });
    expect(await pair.a.takeRate(limit, 30_000)).toEqual({ ok: true });
    expect(await pair.a.takeRate(limit, 30_000)).toEqual({ ok: false, retryAfterMs: 20_000 });
  });

  it('takes from every bucket or from none', async () => {
    const wide = { key: 'wide', calls: 5, perSeconds: 60 };
    const narrow = { key: 'narrow', calls: 1, perSeconds: 60 };
    expect(await pair.a.takeRate([wide, narrow], 0)).toEqual({ ok: true });
    // narrow is empty: wide must not lose a token for the refused call.
    for (let i = 0; i < 3; i += 1) expect((await pair.b.takeRate([wide, narrow], 0)).ok).toBe(false);
    for (let i = 0; i < 4; i += 1) expect(await pair.a.takeRate([wide], 0)).toEqual({ ok: true });
    expect((await pair.a.takeRate([wide], 0)).ok).toBe(false);
  });

  const task = (id: string, extra: Partial<TaskRow> = {}): TaskRow => ({
    id,
    issuer: 'urn:iss',
    subject: 'agent-1',
    source: 'session',
    purpose: 'tidy up',
    grants: ['fx__*'],
    session: 'handle-key',
    gateway: 'replica-a:1',
    createdAt: 1_000,
    expiresAt: 100_000,
    ...extra,
  });

  it('a task recorded by one instance is found by id on the other, once', async () => {
    expect(await pair.a.insertTask(task('task-found'))).toBe(true);
    expect(await pair.b.insertTask(task('task-found', { purpose: 'again', gateway: 'replica-b:2' }))).toBe(false);
    expect(await pair.b.tasksById('task-found')).toEqual([task('task-found')]);
    // Token tasks: one id chosen by two issuers is two rows, newest first.
    await pair.b.insertTask(task('tok-shared', { source: 'token', issuer: 'urn:other', createdAt: 2_000 }));
    await pair.a.insertTask(task('tok-shared', { source: 'token', createdAt: 1_500 }));
    expect((await pair.a.tasksById('tok-shared')).map((t) => t.issuer)).toEqual(['urn:other', 'urn:iss']);
    expect(await pair.a.tasksById('tok-shared', 1)).toHaveLength(1);
    expect(await pair.a.tasksById('task-nobody-made')).toEqual([]);
    // A minimal row reads back without the fields it never had.
    const bare: TaskRow = { id: 'task-bare', issuer: 'i', subject: 's', source: 'token', gateway: 'g', createdAt: 5 };
    await pair.a.insertTask(bare);
    expect(await pair.b.tasksById('task-bare')).toEqual([bare]);
  });

  it('a task ended by one instance reads ended on the other; ending it again changes nothing', async () => {
    await pair.a.insertTask(task('task-ended'));
    const key = { id: 'task-ended', issuer: 'urn:iss', subject: 'agent-1' };
    expect(await pair.b.endTask(key, 2_000, 'ended')).toBe(true);
    expect(await pair.a.endTask(key, 3_000, 'expired')).toBe(false);
    expect(await pair.b.endTask({ ...key, subject: 'someone-else' }, 3_000, 'ended')).toBe(false);
    expect(await pair.a.tasksById('task-ended')).toEqual([task('task-ended', { endedAt: 2_000, endReason: 'ended' })]);
    // Recorded already ended (a token task revoked by id before anyone saw it).
    await pair.b.insertTask(task('task-born-revoked', { endedAt: 1_000, endReason: 'revoked' }));
    expect((await pair.a.tasksById('task-born-revoked'))[0]).toMatchObject({ endedAt: 1_000, endReason: 'revoked' });
  });

  it('lists open, unexpired tasks (or all), newest first', async () => {
    const fresh = await open();
    try {
      await fresh.a.insertTask(task('t-open', { createdAt: 3 }));
      await fresh.a.insertTask(task('t-expired', { createdAt: 2, expiresAt: 50 }));
      await fresh.b.insertTask(task('t-ended', { createdAt: 1 }));
      await fresh.b.endTask({ id: 't-ended', issuer: 'urn:iss', subject: 'agent-1' }, 10, 'ended');
      await fresh.b.insertTask(task('t-forever', { createdAt: 4, expiresAt: undefined }));
      const ids = (rows: TaskRow[]) => rows.map((t) => t.id);
      expect(ids(await fresh.b.listTasks({ all: false, now: 100 }))).toEqual(['t-forever', 't-open']);
      expect(ids(await fresh.a.listTasks({ all: true, now: 100 }))).toEqual([
        't-forever',
        't-open',
        't-expired',
        't-ended',
      ]);
      expect(ids(await fresh.a.listTasks({ all: true, now: 100, limit: 1 }))).toEqual(['t-forever']);
    } finally {
      await fresh.a.close();
      await fresh.b.close();
    }
  });

  it('revoking a task id ends its open rows everywhere; revoking an agent ends its open tasks', async () => {
    await pair.a.insertTask(task('task-revoked'));
    expect(await pair.b.revokeTaskId('task-revoked', 4_000)).toBe(true);
    expect(await pair.b.revokeTaskId('task-revoked', 5_000)).toBe(false);
    expect((await pair.a.tasksById('task-revoked'))[0]).toMatchObject({ endedAt: 4_000, endReason: 'revoked' });
    expect((await pair.a.revocations(5_000)).taskIds.has('task-revoked')).toBe(true);

    await pair.a.insertTask(task('task-of-agent', { subject: 'agent-gone' }));
    await pair.a.insertTask(task('task-of-agent-2', { subject: 'agent-gone', issuer: 'urn:elsewhere' }));
    await pair.b.revokeAgent({ subject: 'agent-gone', issuer: 'urn:iss', revokedAt: 6_000 });
    expect((await pair.a.tasksById('task-of-agent'))[0]).toMatchObject({ endedAt: 6_000, endReason: 'revoked' });
    expect((await pair.a.tasksById('task-of-agent-2'))[0]?.endedAt).toBeUndefined();
    await pair.b.revokeAgent({ subject: 'agent-gone', issuer: '*', revokedAt: 7_000 });
    expect((await pair.a.tasksById('task-of-agent-2'))[0]).toMatchObject({ endedAt: 7_000, endReason: 'revoked' });
  });

  const binding = (extra: Partial<ApprovalBinding> = {}): ApprovalBinding => ({
    issuer: 'urn:iss',
    subject: 'agent-1',
    server: 'fx',
    tool: 'fx__pay',
    definitionHash: 'sha256:def',
    argumentsDigest: 'sha256:args',
    ...extra,
  });
  const request = (b: ApprovalBinding, now: number, extra: Partial<ApprovalRequest> = {}): ApprovalRequest => ({
    binding: b,
    channel: 'out-of-band',
    summary: { tool: b.tool, server: b.server, arguments: { amount: 5 } },
    callId: 'call-1',
    now,
    ttlMs: 60_000,
    ...extra,
  });

  it('an approval requested on one instance is shared by identical calls, decided on the other, spent once', async () => {
    const b = binding({ argumentsDigest: 'sha256:once' });
    const first = await pair.a.requestApproval(request(b, 1_000), 50);
    expect(first).toMatchObject({
      created: true,
      row: { status: 'pending', channel: 'out-of-band', callId: 'call-1' },
    });
    if (!('row' in first)) throw new Error('limited');
    const again = await pair.b.requestApproval(request(b, 1_500), 50);
    expect(again).toEqual({ row: first.row, created: false });
    expect(await pair.b.getApproval(first.row.id)).toEqual(first.row);
    expect(await pair.a.openApprovalsFor('urn:iss', 'agent-1', 2_000)).toMatchObject({ count: 1, firstExpiry: 61_000 });
    expect(await pair.a.consumeApproval(b, 2_000)).toBeUndefined(); // pending is not approved
    const approved = await pair.b.approveApproval(first.row.id, 'alice', 2_000);
    expect(approved).toMatchObject({ status: 'approved', decidedBy: 'alice', decidedAt: 2_000 });
    await expect(pair.a.approveApproval(first.row.id, 'bob', 2_100)).rejects.toMatchObject({
      code: 'ERR_APPROVAL_CLOSED',
      message: expect.stringContaining('already approved by alice'),
    });
    expect(await pair.a.consumeApproval(binding({ argumentsDigest: 'sha256:other' }), 3_000)).toBeUndefined();
    expect(await pair.a.consumeApproval(b, 3_000)).toMatchObject({ id: first.row.id, status: 'used', usedAt: 3_000 });
    expect(await pair.b.consumeApproval(b, 3_001)).toBeUndefined();
    expect((await pair.b.listApprovals({ status: 'used' })).map((r) => r.id)).toContain(first.row.id);
  });

  it('instances racing to spend one approval: exactly one wins', async () => {
    const b = binding({ argumentsDigest: 'sha256:race' });
    const made = await pair.a.requestApproval(request(b, 10_000), 50);
    if (!('row' in made)) throw new Error('limited');
    await pair.a.approveApproval(made.row.id, 'alice', 10_000);
    const spends = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? pair.a : pair.b).consumeApproval(b, 10_001)),
    );
    expect(spends.filter((row) => row !== undefined).map((row) => row!.id)).toEqual([made.row.id]);
  });

  it('denied, expired and used approvals are final, and say why', async () => {
    const b = binding({ argumentsDigest: 'sha256:final' });
    const denied = await pair.a.createApproval(request(b, 20_000, { channel: 'elicitation' }));
    expect(await pair.b.denyApproval(denied.id, 'user', 20_001, 'not now')).toMatchObject({
      status: 'denied',
      reason: 'not now',
    });
    await expect(pair.a.useApproval(denied.id, 20_002)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CLOSED' });
    await expect(pair.a.approveApproval('nope', 'alice', 20_002)).rejects.toMatchObject({
      code: 'ERR_APPROVAL_NOT_FOUND',
    });
    const inBand = await pair.a.createApproval(request(b, 20_000, { channel: 'elicitation' }));
    await pair.a.approveApproval(inBand.id, 'user', 20_001);
    expect(await pair.b.useApproval(inBand.id, 20_002)).toMatchObject({ status: 'used' });
    await expect(pair.a.useApproval(inBand.id, 20_003)).rejects.toMatchObject({
      message: expect.stringContaining('already used'),
    });
    const late = await pair.b.createApproval(request(b, 20_000, { ttlMs: 1_000 }));
    await expect(pair.a.approveApproval(late.id, 'alice', 21_000)).rejects.toMatchObject({
      message: expect.stringContaining('expired'),
    });
    expect((await pair.a.expireDueApprovals(21_000, b)).map((r) => r.id)).toEqual([late.id]);
    expect(await pair.b.expireDueApprovals(21_000, b)).toEqual([]);
    const unanswered = await pair.b.createApproval(request(b, 22_000, { channel: 'elicitation' }));
    expect(await pair.a.expireApproval(unanswered.id, 22_001, 'no answer')).toMatchObject({
      status: 'expired',
      reason: 'no answer',
    });
    expect(await pair.b.expireApproval(unanswered.id, 22_002)).toBeUndefined();
  });

  it('no new request once the agent has the maximum waiting; the sweep expires the first due', async () => {
    const fresh = await open();
    try {
      const who = binding({ subject: 'agent-busy' });
      for (let i = 0; i < 2; i += 1)
        expect(
          await fresh.a.requestApproval(request({ ...who, argumentsDigest: `sha256:${i}` }, 1_000 + i), 2),
        ).toMatchObject({ created: true });
      expect(await fresh.b.requestApproval(request({ ...who, argumentsDigest: 'sha256:9' }, 1_010), 2)).toEqual({
        limited: { count: 2, firstExpiry: 61_000 },
      });
      // Another tenant of the same subject shares nothing.
      expect(
        await fresh.b.requestApproval(request({ ...who, tenant: 't2', argumentsDigest: 'sha256:9' }, 1_010), 2),
      ).toMatchObject({ created: true });
      expect((await fresh.a.expireDueApprovals(61_000, undefined, 1)).map((r) => r.createdAt)).toEqual([1_000]);
    } finally {
      await fresh.a.close();
      await fresh.b.close();
    }
  });

  it('signing keys published by one instance are read by the other; a kid keeps its key, a retirement sticks', async () => {
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: 'first' };
    await pair.a.publishSigningKeys([{ kid: 'kid-aaaaaaaa', publicJwk: jwk, createdAt: 1_000 }]);
    await pair.b.publishSigningKeys([
      { kid: 'kid-aaaaaaaa', publicJwk: { ...jwk, x: 'impostor' }, createdAt: 1_000 },
      { kid: 'kid-bbbbbbbb', publicJwk: { ...jwk, x: 'second' }, createdAt: 2_000 },
    ]);
    expect(await pair.a.signingKeys()).toEqual([
      { kid: 'kid-aaaaaaaa', publicJwk: jwk, createdAt: 1_000 },
      { kid: 'kid-bbbbbbbb', publicJwk: { ...jwk, x: 'second' }, createdAt: 2_000 },
    ]);
    await pair.a.publishSigningKeys([{ kid: 'kid-aaaaaaaa', publicJwk: jwk, createdAt: 1_000, retiredAt: 3_000 }]);
    await pair.b.publishSigningKeys([{ kid: 'kid-aaaaaaaa', publicJwk: jwk, createdAt: 1_000 }]);
    expect((await pair.b.signingKeys())[0]).toEqual({
      kid: 'kid-aaaaaaaa',
      publicJwk: jwk,
      createdAt: 1_000,
      retiredAt: 3_000,
    });
  });

  it('a definition seen by one instance is pinned once; a change quarantines it; a decision made on the other applies to the hash seen', async () => {
    const tofu = (): ServerPinning => ({ mode: 'trust-on-first-use', quarantineFlagged: false });
    const seen = (hash: string): Observation => ({
      server: 'fx',
      kind: 'tool',
      name: 'echo',
      exposed: 'fx__echo',
      hash,
      definition: { name: 'echo', description: `v ${hash}` },
      flags: [],
    });
    // Two instances seeing the same new definition at once: one records it.
    const first = await Promise.all([
      pair.a.observePins([seen('sha256:a')], tofu, 1_000),
      pair.b.observePins([seen('sha256:a')], tofu, 1_000),
    ]);
    expect(first.flat().map((e) => e.type)).toEqual(['tool.pin']);
    expect(await pair.b.pinStatuses()).toEqual([
      {
        server: 'fx',
        kind: 'tool',
        name: 'echo',
        exposed: 'fx__echo',
        status: 'pinned',
        pinnedHash: 'sha256:a',
        currentHash: 'sha256:a',
      },
    ]);
    // Changed: quarantined (once, however many see it), the approved definition kept for the diff.
    const changed = await Promise.all([
      pair.a.observePins([seen('sha256:b')], tofu, 2_000),
      pair.b.observePins([seen('sha256:b')], tofu, 2_000),
    ]);
    expect(changed.flat().map((e) => e.type)).toEqual(['tool.change', 'tool.quarantine']);
    const row = (await pair.b.findPins('fx__echo'))[0]!;
    expect(row).toMatchObject({
      status: 'quarantined',
      pinnedHash: 'sha256:a',
      currentHash: 'sha256:b',
      pinnedDefinition: { description: 'v sha256:a' },
    });
    expect(await pair.a.findPins('fx/echo')).toEqual([row]);
    expect(await pair.a.listPins({ status: 'quarantined' })).toEqual([row]);
    expect(await pair.a.listPins({ status: 'pinned' })).toEqual([]);
    // A decision bound to a hash that is no longer current is refused; the current one applies.
    const key = { server: 'fx', kind: 'tool' as const, name: 'echo' };
    await expect(pair.b.approvePin(key, 'alice', 3_000, 'sha256:a')).rejects.toMatchObject({ code: 'ERR_PIN_CHANGED' });
    expect(await pair.b.approvePin(key, 'alice', 3_000, 'sha256:b')).toMatchObject({
      status: 'pinned',
      pinnedHash: 'sha256:b',
      decidedBy: 'alice',
      decidedAt: 3_000,
    });
    expect((await pair.a.getPin(key))?.status).toBe('pinned');
    await expect(pair.a.approvePin(key, 'bob', 4_000)).rejects.toMatchObject({ code: 'ERR_PIN_NOTHING_TO_APPROVE' });
    expect(await pair.a.rejectPin(key, 'bob', 4_000, 'sha256:b')).toMatchObject({
      status: 'rejected',
      decidedBy: 'bob',
    });
    await expect(pair.b.rejectPin(key, 'bob', 5_000)).rejects.toMatchObject({ code: 'ERR_PIN_NOTHING_TO_REJECT' });
    await expect(pair.b.approvePin({ ...key, name: 'missing' }, 'bob', 5_000)).rejects.toMatchObject({
      code: 'ERR_PIN_NOT_FOUND',
    });
  });

  it('a single-use id spent on one instance is refused on the other until it expires; racing spends: one wins', async () => {
    expect(await pair.a.spendOnce('sid-1', 10_000, 1_000)).toBe(true);
    expect(await pair.b.spendOnce('sid-1', 10_000, 2_000)).toBe(false);
    expect(await pair.a.spendOnce('sid-1', 10_000, 3_000)).toBe(false);
    const race = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? pair.a : pair.b).spendOnce('sid-2', 10_000, 1_000)),
    );
    expect(race.filter(Boolean)).toHaveLength(1);
    // Expired ids are forgotten by a later spend (a state past its expiry is refused before it is spent).
    expect(await pair.b.spendOnce('sid-3', 20_000, 11_000)).toBe(true);
    expect(await pair.a.spendOnce('sid-1', 30_000, 11_000)).toBe(true);
  });

  it('a limit of N holds in total across instances taking at the same time', async () => {
    const limit = [{ key: 'shared', calls: 10, perSeconds: 60 }];
    const takes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? pair.a : pair.b).takeRate(limit, 50_000)),
    );
    expect(takes.filter((t) => t.ok)).toHaveLength(10);
  });
});

describe('shared state on postgres: change announcements', () => {
  /** Two replicas' pools on one schema, the reader listening for the store's change announcements. */
  async function listeningPair(schema: string) {
    const config = PostgresStoreSchema.parse({ kind: 'postgres', url: db.url, schema });
    const writer = await openPgPool(config, dir.path);
    const reader = await openPgPool(config, dir.path);
    pools.push(writer.pool, reader.pool);
    const link = new PgStoreLink({
      pool: reader.pool,
      client: { connectionString: db.url, options: `-c search_path=${schema}` },
    });
    await link.start();
    return { writer, reader, link };
  }

  it('a revocation written by one replica is announced to another replica listening', async () => {
    const { writer, reader, link } = await listeningPair('contract_notify');
    try {
      expect(link.health()).toEqual({ kind: 'postgres', status: 'up' });
      const heard = new Promise<string>((resolve) => link.onChange(resolve));
      await new PgSharedState(writer.pool).revokeToken('jti-announced', 1_000);
      expect(await heard).toBe('token_revocations');
      expect((await new PgSharedState(reader.pool).revocations(0)).tokenIds.has('jti-announced')).toBe(true);
    } finally {
      await link.close();
    }
  });

  it('a pin decision written by one replica is announced to another replica listening', async () => {
    const { writer, link } = await listeningPair('contract_notify_pins');
    try {
      const heard = new Promise<string>((resolve) => link.onChange(resolve));
      const observation = {
        server: 'fx',
        kind: 'tool' as const,
        name: 'echo',
        exposed: 'fx__echo',
        hash: 'sha256:a',
        definition: {},
        flags: [],
      };
      await new PgSharedState(writer.pool).observePins(
        [observation],
        () => ({ mode: 'require-approval', quarantineFlagged: false }),
        1_000,
      );
      expect(await heard).toBe('definition_pins');
    } finally {
      await link.close();
    }
  });
});
