// The PostgreSQL store at start and from the CLI: versioned migrations under an advisory lock
// (`mcp-warden store migrate`, replicas racing migrate once), clear errors, and /healthz reporting
// whether the store is reachable as it goes away and comes back.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliAsync } from '../helpers/cli.js';
import { health, startGateway, writeConfig } from '../helpers/gateway.js';
import { usePostgres } from '../helpers/postgres.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { PostgresStoreSchema } from '../../src/config/store-schema.js';
import { openPgPool } from '../../src/state/pg/open.js';
import { STATE_MIGRATIONS } from '../../src/state/pg/schema.js';

const db = usePostgres();
let dir: TempDir;
let admin: pg.Pool;

beforeAll(async () => {
  dir = await makeTempDir('warden-store');
  admin = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await admin?.end();
  await dir?.cleanup();
});

/** A config file whose store is this file's database (its URL from the environment), in its own schema. */
async function configFor(schema: string, url = db.url): Promise<{ file: string; env: Record<string, string> }> {
  const file = join(dir.path, `${schema}.json`);
  await writeFile(
    file,
    JSON.stringify({
      version: 1,
      dataDir: `./data-${schema}`,
      store: { kind: 'postgres', url: '${TEST_PG_URL}', schema, connectTimeoutMs: 2_000 },
      servers: {},
    }),
  );
  return { file, env: { TEST_PG_URL: url } };
}

async function versionOf(schema: string): Promise<number | undefined> {
  const result = await admin.query<{ version: number }>(
    `SELECT version FROM ${schema}.warden_schema_versions WHERE track = 'state'`,
  );
  return result.rows[0]?.version;
}

describe('mcp-warden store migrate', () => {
  it('migrates an empty database once, then says it is up to date', async () => {
    const { file, env } = await configFor('migrate_once');
    const first = runCli(file, ['store', 'migrate'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      new RegExp(
        `state store postgres 127\\.0\\.0\\.1:\\d+/${db.name} \\(schema migrate_once\\): migrated from version 0 to ${STATE_MIGRATIONS.length}`,
      ),
    );
    const second = runCli(file, ['store', 'migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/already up to date/);
    expect(await versionOf('migrate_once')).toBe(STATE_MIGRATIONS.length);
  });

  it('four processes racing on an empty database apply each migration once, and all succeed', async () => {
    const { file, env } = await configFor('migrate_race');
    const results = await Promise.all([1, 2, 3, 4].map(() => runCliAsync(file, ['store', 'migrate'], env)));
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    expect(results.filter((r) => /migrated from version 0/.test(r.stdout))).toHaveLength(1);
    expect(results.filter((r) => /already up to date/.test(r.stdout))).toHaveLength(3);
    expect(await versionOf('migrate_race')).toBe(STATE_MIGRATIONS.length);
  });

  it('refuses a database written by a newer mcp-warden, changing nothing', async () => {
    const { file, env } = await configFor('migrate_newer');
    // Migrated as the CLI migrates (openPgPool), in this process: the CLI's own run is the test above.
    const config = PostgresStoreSchema.parse({ kind: 'postgres', url: db.url, schema: 'migrate_newer' });
    const { pool, migrated } = await openPgPool(config, dir.path);
    await pool.end();
    expect(migrated).toMatchObject({ from: 0, to: STATE_MIGRATIONS.length });
    await admin.query(`UPDATE migrate_newer.warden_schema_versions SET version = 99 WHERE track = 'state'`);
    const result = runCli(file, ['store', 'migrate'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /the state schema is at version 99, newer than this mcp-warden understands \(\d+\); upgrade mcp-warden/,
    );
    expect(await versionOf('migrate_newer')).toBe(99);
  });

  it('says the database is unreachable, without the URL or its password', async () => {
    // A port nothing listens on: the proxy's, once it is closed.
    const closed = await startTcpProxy('127.0.0.1', 1);
    await closed.close();
    const { file, env } = await configFor(
      'migrate_down',
      `postgres://warden:s3cret-pw@127.0.0.1:${closed.port}/nowhere`,
    );
    const result = runCli(file, ['store', 'migrate'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^mcp-warden store: store: database unreachable \(connection refused\)$/m);
    expect(result.stderr).not.toContain('s3cret-pw');
  });
});

describe('serve on PostgreSQL', () => {
  let proxy: TcpProxy;

  beforeAll(async () => {
    const target = new URL(db.url);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('migrates at start, reports the store at /healthz, down while it is unreachable and up again after', async () => {
    const url = new URL(db.url);
    url.host = `127.0.0.1:${proxy.port}`;
    const gateway = await startGateway(
      {
        servers: {},
        store: { kind: 'postgres', url: '${TEST_PG_URL}', schema: 'serve_health', connectTimeoutMs: 1_000 },
      },
      [],
      { TEST_PG_URL: url.toString() },
    );
    try {
      expect(await versionOf('serve_health')).toBe(STATE_MIGRATIONS.length);
      const up = await health(gateway);
      expect(up).toMatchObject({ status: 'ok', store: { kind: 'postgres', status: 'up' } });
      proxy.cut();
      const down = await waitFor(async () => {
        const h = await health(gateway);
        return (h as { store?: { status: string } }).store?.status === 'down' && h;
      }, 'the store reported down');
      expect(down).toMatchObject({ status: 'degraded', store: { kind: 'postgres', status: 'down' } });
      expect(JSON.stringify(down)).not.toContain(String(proxy.port));
      proxy.restore();
      const back = await waitFor(async () => {
        const h = await health(gateway);
        return (h as { store?: { status: string } }).store?.status === 'up' && h;
      }, 'the store reported up again');
      expect(back).toMatchObject({ status: 'ok', store: { kind: 'postgres', status: 'up' } });
    } finally {
      await gateway.stop();
    }
  });

  it('a gateway on SQLite reports its store at /healthz too', async () => {
    const gateway = await startGateway({ servers: {} });
    try {
      expect(await health(gateway)).toMatchObject({ status: 'ok', store: { kind: 'sqlite', status: 'up' } });
    } finally {
      await gateway.stop();
    }
  });

  it('a gateway whose store is unreachable at start does not start, and says why', async () => {
    proxy.cut();
    try {
      const url = new URL(db.url);
      url.host = `127.0.0.1:${proxy.port}`;
      const { file, dir: configDir } = await writeConfig({
        servers: {},
        store: { kind: 'postgres', url: url.toString(), schema: 'serve_down', connectTimeoutMs: 1_000 },
      });
      const result = await runCliAsync(file, ['serve', '--port', '0']);
      await configDir.cleanup();
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/mcp-warden serve: store: connection to the database was lost/);
    } finally {
      proxy.restore();
    }
  });
});
