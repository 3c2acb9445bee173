// Sign-in codes and sessions with the clock passed in (no waiting), on both stores: a real state.db in a
// temp dir, and the tables of a real PostgreSQL store (two pools on it, as two replicas have), where a code
// issued through one pool is redeemed through the other once, and a session ended through one is ended on both.
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { PostgresStoreSchema } from '../../src/config/store-schema.js';
import { PgConsoleSessions } from '../../src/console/pg-sessions.js';
import { ConsoleSessions, csrfMatches, isReviewer, type ConsoleSessionStore } from '../../src/console/sessions.js';
import { listenerPolicy } from '../../src/console/http-util.js';
import { stateFile } from '../../src/state/db.js';
import { openPgPool } from '../../src/state/pg/open.js';
import type { PgPool } from '../../src/state/pg/pool.js';
import { usePostgres } from '../helpers/postgres.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const T0 = 1_800_000_000_000;
const pgDb = usePostgres();

/**
 * Everything state.db holds on disk: the main file after a checkpoint, plus the -wal and -shm if any
 * (in WAL mode new rows live in the -wal until a checkpoint moves them).
 */
function onDisk(file: string): Buffer {
  const db = new Database(file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return Buffer.concat([file, `${file}-wal`, `${file}-shm`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
}

/** The forms a secret could be stored in: as is, its bytes in hex, and base64. */
function forms(secret: string): Buffer[] {
  const raw = Buffer.from(secret, 'base64url');
  return [Buffer.from(secret), Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('base64')), raw];
}

interface StoreUnderTest {
  /** Two handles on one store (two replicas' pools on PostgreSQL; one state.db opened once on SQLite). */
  sessions: ConsoleSessionStore;
  other: ConsoleSessionStore;
  /** Every byte the store holds of the codes and sessions. */
  stored(): Promise<Buffer>;
  close(): Promise<void>;
}

const STORES: [string, (dir: TempDir) => Promise<StoreUnderTest>][] = [
  [
    'sqlite',
    async (dir) => {
      const sessions = ConsoleSessions.open(stateFile(dir.path));
      return {
        sessions,
        other: sessions,
        stored: () => Promise.resolve(onDisk(stateFile(dir.path))),
        close: () => sessions.close(),
      };
    },
  ],
  [
    'postgres',
    async (dir) => {
      const config = PostgresStoreSchema.parse({ kind: 'postgres', url: pgDb.url, schema: 'console_sessions_test' });
      const pools: PgPool[] = [];
      for (let i = 0; i < 2; i += 1) pools.push((await openPgPool(config, dir.path)).pool);
      return {
        sessions: new PgConsoleSessions(pools[0]!),
        other: new PgConsoleSessions(pools[1]!),
        async stored() {
          const rows = await pools[0]!.query(
            'SELECT (SELECT json_agg(c) FROM console_login_codes c)::text AS codes, (SELECT json_agg(s) FROM console_sessions s)::text AS sessions',
          );
          return Buffer.from(JSON.stringify(rows.rows[0]));
        },
        async close() {
          await Promise.all(pools.map((pool) => pool.end()));
        },
      };
    },
  ],
];

describe.each(STORES)('console sign-in codes and sessions on %s', (_kind, open) => {
  let dir: TempDir;
  let store: StoreUnderTest;
  let sessions: ConsoleSessionStore;
  let other: ConsoleSessionStore;

  beforeAll(async () => {
    dir = await makeTempDir('warden-console-sessions');
    store = await open(dir);
    ({ sessions, other } = store);
  });

  afterAll(async () => {
    await store?.close();
    await dir?.cleanup();
  });

  it('a code works once, before its expiry, and is stored only as a digest', async () => {
    const { code, expiresAt } = await sessions.createLoginCode({ subject: 'alice', issuer: 'urn:idp' }, T0, 120_000);
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt).toBe(T0 + 120_000);
    // The digest is there (so the search below reads the right bytes), the code in no form.
    const stored = await store.stored();
    expect(stored.includes(Buffer.from(createHash('sha256').update(code).digest('hex')))).toBe(true);
    for (const form of forms(code)) expect(stored.includes(form)).toBe(false);
    // Redeemed through the other handle (another replica): once.
    expect(await other.redeemLoginCode(code, T0 + 1_000)).toEqual({ subject: 'alice', issuer: 'urn:idp' });
    expect(await sessions.redeemLoginCode(code, T0 + 2_000)).toEqual({ refused: 'used' });
  });

  it('two replicas exchanging one code at once: exactly one signs in', async () => {
    const { code } = await sessions.createLoginCode({ subject: 'alice' }, T0, 120_000);
    const results = await Promise.all([
      sessions.redeemLoginCode(code, T0 + 1),
      other.redeemLoginCode(code, T0 + 1),
      sessions.redeemLoginCode(code, T0 + 1),
      other.redeemLoginCode(code, T0 + 1),
    ]);
    expect(results.filter((r) => 'subject' in r)).toHaveLength(1);
    expect(results.filter((r) => 'refused' in r && r.refused === 'used')).toHaveLength(3);
  });

  it.each([
    ['expired', T0 + 120_000, { refused: 'expired' }],
    ['one millisecond before expiry', T0 + 119_999, { subject: 'alice' }],
  ])('a code redeemed %s', async (_name, at, expected) => {
    const { code } = await sessions.createLoginCode({ subject: 'alice' }, T0, 120_000);
    expect(await sessions.redeemLoginCode(code, at)).toEqual(expected);
  });

  it.each(['', 'short', 'A'.repeat(43), "'; DROP TABLE console_sessions; --", 'A'.repeat(10_000)])(
    'an unknown or malformed code is refused: %#',
    async (code) => {
      expect(await sessions.redeemLoginCode(code, T0)).toEqual({ refused: 'unknown' });
    },
  );

  it('a session token and its CSRF token are stored only as digests', async () => {
    const { token, csrf } = await sessions.createSession({ subject: 'alice' }, T0, 3_600_000);
    const stored = await store.stored();
    expect(stored.includes(Buffer.from(createHash('sha256').update(token).digest('hex')))).toBe(true);
    expect(stored.includes(Buffer.from(createHash('sha256').update(csrf).digest('hex')))).toBe(true);
    for (const form of [...forms(token), ...forms(csrf)]) expect(stored.includes(form)).toBe(false);
  });

  it('a session lives until its expiry or until it is ended (on every replica); its CSRF token is random and bound to it', async () => {
    const { token, csrf, session } = await sessions.createSession({ subject: 'alice' }, T0, 3_600_000);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrf).not.toBe(token);
    expect((await other.session(token, T0 + 3_599_999))?.subject).toBe('alice');
    expect(await other.session(token, T0 + 3_600_000)).toBeUndefined();
    expect(csrfMatches(session, csrf)).toBe(true);
    // Looked up again from the cookie (on the other replica), the session still knows (the digest of) its token.
    expect(csrfMatches((await other.session(token, T0))!, csrf)).toBe(true);
    expect(JSON.stringify(await other.session(token, T0))).not.toContain(csrf);
    const second = await sessions.createSession({ subject: 'alice' }, T0, 3_600_000);
    expect(csrfMatches(session, second.csrf)).toBe(false);
    expect(csrfMatches(session, token)).toBe(false);
    expect(csrfMatches(session, undefined)).toBe(false);
    expect(csrfMatches(session, '')).toBe(false);
    await other.endSession(second.token, T0 + 1);
    expect(await sessions.session(second.token, T0 + 2)).toBeUndefined();
    expect(await sessions.session(undefined, T0)).toBeUndefined();
  });
});

describe('console reviewers and listener', () => {
  it.each([
    [[{ subject: 'alice' }], 'alice', undefined, true],
    [[{ subject: 'alice' }], 'alice', 'urn:any', true],
    [[{ subject: 'alice', issuer: 'urn:idp' }], 'alice', 'urn:idp', true],
    [[{ subject: 'alice', issuer: 'urn:idp' }], 'alice', 'urn:other', false],
    [[{ subject: 'alice', issuer: 'urn:idp' }], 'alice', undefined, false],
    [[{ subject: 'alice' }], 'alic*', undefined, false],
    [[{ subject: 'a*' }], 'alice', undefined, false],
    [[], 'alice', undefined, false],
  ])('reviewers %j: %s (issuer %s) -> %s', (reviewers, subject, issuer, expected) => {
    expect(isReviewer(reviewers, subject, issuer)).toBe(expected);
  });

  it('the listener accepts its own Host and Origin only (plus loopback names when bound to loopback)', () => {
    const loopback = listenerPolicy('127.0.0.1', 8788, [], []);
    expect([...loopback.hosts].sort()).toEqual(['127.0.0.1:8788', '[::1]:8788', 'localhost:8788']);
    expect(loopback.origins.has('http://127.0.0.1:8788')).toBe(true);
    expect(loopback.origins.has('http://127.0.0.1:8787')).toBe(false);
    const proxied = listenerPolicy('10.0.0.5', 8788, ['review.example.com'], ['https://review.example.com']);
    expect(proxied.hosts.has('localhost:8788')).toBe(false);
    expect(proxied.origins.has('https://review.example.com')).toBe(true);
  });
});
