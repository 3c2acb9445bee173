import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openStateDb, StateStore } from '../state/db.js';

/** 256 bits of randomness, base64url: login codes and session tokens. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Only digests are stored: a copy of state.db does not let anyone sign in. */
export function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface ConsoleSession {
  subject: string;
  issuer?: string;
  createdAt: number;
  expiresAt: number;
  /**
   * SHA-256 digest of the session's CSRF token: a second random value, given to the page once (in the
   * login response) and sent back in `x-csrf-token` on every state-changing request and as a WebSocket
   * subprotocol on the live feed. The cookie alone (which browsers also send to other ports of the same
   * host) is not enough to act.
   */
  csrfDigest: string;
}

export interface Reviewer {
  subject: string;
  issuer?: string;
}

export type Redeemed = Reviewer | { refused: 'unknown' | 'expired' | 'used' };

/**
 * Where sign-in codes and console sessions live: `state.db` (`ConsoleSessions`, one machine) or the
 * PostgreSQL store (`PgConsoleSessions`, src/console/pg-sessions.ts), so a code printed by `console login`
 * with any replica's config signs in on any replica, and a session is valid on (and ends on) every one.
 */
export interface ConsoleSessionStore {
  /** A new one-time code for this reviewer; the caller puts it in the link's fragment. */
  createLoginCode(reviewer: Reviewer, now: number, ttlMs: number): Promise<{ code: string; expiresAt: number }>;
  /**
   * Spends a code: its reviewer when it exists, is unexpired and unused; marked used atomically, so two
   * concurrent exchanges of one code (on one replica or two) cannot both succeed.
   */
  redeemLoginCode(code: string, now: number): Promise<Redeemed>;
  /** Starts a session: the cookie value and the CSRF token (neither stored, only their digests). */
  createSession(reviewer: Reviewer, now: number, ttlMs: number): Promise<StartedSession>;
  /** The live session for a cookie value, if any. */
  session(token: string | undefined, now: number): Promise<ConsoleSession | undefined>;
  endSession(token: string, now: number): Promise<void>;
  close(): Promise<void>;
}

export interface StartedSession {
  token: string;
  csrf: string;
  session: ConsoleSession;
}

/** Old codes and sessions are of no use to anyone: rows a day past their expiry are deleted. */
export const KEEP_EXPIRED_MS = 86_400_000;

/** A new session's secrets and what is stored of them. */
export function newSession(reviewer: Reviewer, now: number, ttlMs: number): StartedSession & { digest: string } {
  const token = randomToken();
  const csrf = randomToken();
  return {
    token,
    csrf,
    digest: digest(token),
    session: {
      subject: reviewer.subject,
      ...(reviewer.issuer !== undefined && { issuer: reviewer.issuer }),
      createdAt: now,
      expiresAt: now + ttlMs,
      csrfDigest: digest(csrf),
    },
  };
}

/** A stored session row as a live session, or undefined when it ended, expired or has no CSRF digest. */
export function liveSession(
  row: {
    subject: string;
    issuer: string | null;
    created_at: number;
    expires_at: number;
    ended_at: number | null;
    csrf_digest: string | null;
  },
  now: number,
): ConsoleSession | undefined {
  // A session from before CSRF tokens were stored has none: it cannot act, so it is not a session.
  if (row.ended_at !== null || row.expires_at <= now || row.csrf_digest === null) return undefined;
  return {
    subject: row.subject,
    ...(row.issuer !== null && { issuer: row.issuer }),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    csrfDigest: row.csrf_digest,
  };
}

/**
 * One-time sign-in codes and console sessions in `<dataDir>/state.db` (migration 3), shared by `serve`,
 * `console` and `console login` on one machine. Codes and session tokens are 256-bit random values kept
 * only as SHA-256 digests; a code is single use and short-lived. Each session also has a random CSRF
 * token, stored as a digest too and handed out only when the session starts.
 */
export class ConsoleSessions extends StateStore implements ConsoleSessionStore {
  private constructor(file: string, db: Database.Database) {
    super(file, db);
  }

  static open(file: string): ConsoleSessions {
    return new ConsoleSessions(file, openStateDb(file));
  }

  createLoginCode(reviewer: Reviewer, now: number, ttlMs: number): Promise<{ code: string; expiresAt: number }> {
    const code = randomToken();
    const expiresAt = now + ttlMs;
    this.db
      .prepare(
        'INSERT INTO console_login_codes (digest, subject, issuer, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(digest(code), reviewer.subject, reviewer.issuer ?? null, now, expiresAt);
    this.db.prepare('DELETE FROM console_login_codes WHERE expires_at < ?').run(now - KEEP_EXPIRED_MS);
    return Promise.resolve({ code, expiresAt });
  }

  redeemLoginCode(code: string, now: number): Promise<Redeemed> {
    if (!TOKEN_SHAPE.test(code)) return Promise.resolve({ refused: 'unknown' });
    const redeemed = this.db
      .transaction((): Redeemed => {
        const row = this.db
          .prepare<[string], { subject: string; issuer: string | null; expires_at: number; used_at: number | null }>(
            'SELECT subject, issuer, expires_at, used_at FROM console_login_codes WHERE digest = ?',
          )
          .get(digest(code));
        if (!row) return { refused: 'unknown' };
        if (row.used_at !== null) return { refused: 'used' };
        this.db.prepare('UPDATE console_login_codes SET used_at = ? WHERE digest = ?').run(now, digest(code));
        if (row.expires_at <= now) return { refused: 'expired' };
        return { subject: row.subject, ...(row.issuer !== null && { issuer: row.issuer }) };
      })
      .immediate();
    return Promise.resolve(redeemed);
  }

  createSession(reviewer: Reviewer, now: number, ttlMs: number): Promise<StartedSession> {
    const { digest: stored, ...started } = newSession(reviewer, now, ttlMs);
    this.db
      .prepare(
        'INSERT INTO console_sessions (digest, subject, issuer, created_at, expires_at, csrf_digest) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(
        stored,
        reviewer.subject,
        reviewer.issuer ?? null,
        now,
        started.session.expiresAt,
        started.session.csrfDigest,
      );
    this.db.prepare('DELETE FROM console_sessions WHERE expires_at < ?').run(now - KEEP_EXPIRED_MS);
    return Promise.resolve(started);
  }

  session(token: string | undefined, now: number): Promise<ConsoleSession | undefined> {
    if (token === undefined || !TOKEN_SHAPE.test(token)) return Promise.resolve(undefined);
    const row = this.db
      .prepare<
        [string],
        {
          subject: string;
          issuer: string | null;
          created_at: number;
          expires_at: number;
          ended_at: number | null;
          csrf_digest: string | null;
        }
      >('SELECT subject, issuer, created_at, expires_at, ended_at, csrf_digest FROM console_sessions WHERE digest = ?')
      .get(digest(token));
    return Promise.resolve(row && liveSession(row, now));
  }

  endSession(token: string, now: number): Promise<void> {
    if (TOKEN_SHAPE.test(token))
      this.db
        .prepare('UPDATE console_sessions SET ended_at = ? WHERE digest = ? AND ended_at IS NULL')
        .run(now, digest(token));
    return Promise.resolve();
  }

  override close(): Promise<void> {
    super.close();
    return Promise.resolve();
  }
}

/** Whether a presented CSRF token is the session's (digests compared in constant time). */
export function csrfMatches(session: ConsoleSession, presented: string | undefined): boolean {
  if (presented === undefined || !TOKEN_SHAPE.test(presented)) return false;
  const a = Buffer.from(session.csrfDigest, 'hex');
  const b = Buffer.from(digest(presented), 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether the policy names this subject (and issuer, when the entry gives one) as a reviewer. */
export function isReviewer(reviewers: readonly Reviewer[], subject: string, issuer: string | undefined): boolean {
  return reviewers.some((r) => r.subject === subject && (r.issuer === undefined || r.issuer === issuer));
}
