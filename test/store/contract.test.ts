// One contract for the shared-state store (src/state/shared.ts), run against SQLite (state.db) and
// PostgreSQL: revocations read back whole, rate-limit buckets taken all-or-none and counted across
// every instance on the store (a limit of N is N in total), and on PostgreSQL a write on one replica
// announced to another's LISTEN.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteSharedState } from '../../src/state/sqlite-shared.js';
import { PgSharedState } from '../../src/state/pg/shared.js';
import { openPgPool } from '../../src/state/pg/open.js';
import { PgStoreLink } from '../../src/state/pg/link.js';
import type { PgPool } from '../../src/state/pg/pool.js';
import type { SharedState } from '../../src/state/shared.js';
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

  it('a limit of N holds in total across instances taking at the same time', async () => {
    const limit = [{ key: 'shared', calls: 10, perSeconds: 60 }];
    const takes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? pair.a : pair.b).takeRate(limit, 50_000)),
    );
    expect(takes.filter((t) => t.ok)).toHaveLength(10);
  });
});

describe('shared state on postgres: change announcements', () => {
  it('a revocation written by one replica is announced to another replica listening', async () => {
    const config = PostgresStoreSchema.parse({ kind: 'postgres', url: db.url, schema: 'contract_notify' });
    const writer = await openPgPool(config, dir.path);
    const reader = await openPgPool(config, dir.path);
    pools.push(writer.pool, reader.pool);
    const link = new PgStoreLink({
      pool: reader.pool,
      client: { connectionString: db.url, options: '-c search_path=contract_notify' },
    });
    await link.start();
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
});
