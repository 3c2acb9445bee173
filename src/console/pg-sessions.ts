import type { PostgresStoreConfig } from '../config/store-schema.js';
import { openPgPool } from '../state/pg/open.js';
import { storeUnavailable, type PgPool } from '../state/pg/pool.js';
import {
  KEEP_EXPIRED_MS,
  TOKEN_SHAPE,
  digest,
  liveSession,
  newSession,
  randomToken,
  type ConsoleSession,
  type ConsoleSessionStore,
  type Redeemed,
  type Reviewer,
  type StartedSession,
} from './sessions.js';

interface SessionRow {
  subject: string;
  issuer: string | null;
  created_at: string;
  expires_at: string;
  ended_at: string | null;
  csrf_digest: string | null;
}

/**
 * Sign-in codes and console sessions in the PostgreSQL store (tables console_login_codes and
 * console_sessions, src/state/pg/schema.ts): a code printed by `console login` with any replica's config
 * signs in on any replica; a session is looked up in the store on every request, so behind a load
 * balancer it is valid on every replica and a sign-out or expiry ends it on all of them at once. Only
 * digests are stored, as on state.db. A store failure is ERR_STATE_UNAVAILABLE (the console answers 503).
 */
export class PgConsoleSessions implements ConsoleSessionStore {
  /** `ownsPool`: the pool was opened for these sessions alone and is ended by `close`. */
  constructor(
    private readonly pool: PgPool,
    private readonly ownsPool = false,
  ) {}

  private async query<T extends object>(what: string, text: string, values: unknown[]): Promise<T[]> {
    try {
      return (await this.pool.query<T>(text, values)).rows;
    } catch (error) {
      throw storeUnavailable(what, error);
    }
  }

  async createLoginCode(reviewer: Reviewer, now: number, ttlMs: number): Promise<{ code: string; expiresAt: number }> {
    const code = randomToken();
    const expiresAt = now + ttlMs;
    await this.query(
      'console sign-in code',
      'INSERT INTO console_login_codes (digest, subject, issuer, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
      [digest(code), reviewer.subject, reviewer.issuer ?? null, now, expiresAt],
    );
    await this.query('console sign-in code', 'DELETE FROM console_login_codes WHERE expires_at < $1', [
      now - KEEP_EXPIRED_MS,
    ]);
    return { code, expiresAt };
  }

  async redeemLoginCode(code: string, now: number): Promise<Redeemed> {
    if (!TOKEN_SHAPE.test(code)) return { refused: 'unknown' };
    // One conditional UPDATE: of two replicas exchanging one code at once, exactly one sees used_at NULL.
    const spent = await this.query<{ subject: string; issuer: string | null; expires_at: string }>(
      'console sign-in',
      'UPDATE console_login_codes SET used_at = $2 WHERE digest = $1 AND used_at IS NULL RETURNING subject, issuer, expires_at',
      [digest(code), now],
    );
    const row = spent[0];
    if (!row) {
      const known = await this.query('console sign-in', 'SELECT 1 FROM console_login_codes WHERE digest = $1', [
        digest(code),
      ]);
      return { refused: known.length > 0 ? 'used' : 'unknown' };
    }
    if (Number(row.expires_at) <= now) return { refused: 'expired' };
    return { subject: row.subject, ...(row.issuer !== null && { issuer: row.issuer }) };
  }

  async createSession(reviewer: Reviewer, now: number, ttlMs: number): Promise<StartedSession> {
    const { digest: stored, ...started } = newSession(reviewer, now, ttlMs);
    await this.query(
      'console session',
      'INSERT INTO console_sessions (digest, subject, issuer, created_at, expires_at, csrf_digest) VALUES ($1, $2, $3, $4, $5, $6)',
      [stored, reviewer.subject, reviewer.issuer ?? null, now, started.session.expiresAt, started.session.csrfDigest],
    );
    await this.query('console session', 'DELETE FROM console_sessions WHERE expires_at < $1', [now - KEEP_EXPIRED_MS]);
    return started;
  }

  async session(token: string | undefined, now: number): Promise<ConsoleSession | undefined> {
    if (token === undefined || !TOKEN_SHAPE.test(token)) return undefined;
    const [row] = await this.query<SessionRow>(
      'console session',
      'SELECT subject, issuer, created_at, expires_at, ended_at, csrf_digest FROM console_sessions WHERE digest = $1',
      [digest(token)],
    );
    if (!row) return undefined;
    return liveSession(
      {
        ...row,
        created_at: Number(row.created_at),
        expires_at: Number(row.expires_at),
        ended_at: row.ended_at === null ? null : Number(row.ended_at),
      },
      now,
    );
  }

  async endSession(token: string, now: number): Promise<void> {
    if (!TOKEN_SHAPE.test(token)) return;
    await this.query(
      'console sign-out',
      'UPDATE console_sessions SET ended_at = $1 WHERE digest = $2 AND ended_at IS NULL',
      [now, digest(token)],
    );
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end().catch(() => undefined);
  }
}

/** Sign-in codes on the PostgreSQL store for a command that runs once (`console login`): its own small pool. */
export async function openPgConsoleSessions(store: PostgresStoreConfig, baseDir: string): Promise<PgConsoleSessions> {
  const { pool } = await openPgPool({ ...store, poolSize: 2 }, baseDir);
  return new PgConsoleSessions(pool, true);
}
