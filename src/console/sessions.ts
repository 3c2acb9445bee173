import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { openStateDb, StateStore } from '../state/db.js';

/** 256 bits of randomness, base64url: login codes and session tokens. */
function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Only digests are stored: a copy of state.db does not let anyone sign in. */
export function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

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

/**
 * One-time sign-in codes and console sessions in `<dataDir>/state.db` (migration 3), shared by `serve`,
 * `console` and `console login`. Codes and session tokens are 256-bit random values kept only as SHA-256
 * digests; a code is single use and short-lived. Each session also has a random CSRF token, stored as a
 * digest too and handed out only when the session starts.
 */
export class ConsoleSessions extends StateStore {
  private constructor(file: string, db: Database.Database) {
    super(file, db);
  }

  static open(file: string): ConsoleSessions {
    return new ConsoleSessions(file, openStateDb(file));
  }

  /** A new one-time code for this reviewer; the caller puts it in the link's fragment. */
  createLoginCode(reviewer: Reviewer, now: number, ttlMs: number): { code: string; expiresAt: number } {
    const code = randomToken();
    const expiresAt = now + ttlMs;
    this.db
      .prepare(
        'INSERT INTO console_login_codes (digest, subject, issuer, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(digest(code), reviewer.subject, reviewer.issuer ?? null, now, expiresAt);
    // Old codes are of no use to anyone: keep the table small.
    this.db.prepare('DELETE FROM console_login_codes WHERE expires_at < ?').run(now - 86_400_000);
    return { code, expiresAt };
  }

  /**
   * Spends a code: returns its reviewer when it exists, is unexpired and unused; marks it used in the same
   * transaction, so two concurrent exchanges of one code cannot both succeed.
   */
  redeemLoginCode(code: string, now: number): Reviewer | { refused: 'unknown' | 'expired' | 'used' } {
    if (!TOKEN_SHAPE.test(code)) return { refused: 'unknown' };
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare<[string], { subject: string; issuer: string | null; expires_at: number; used_at: number | null }>(
            'SELECT subject, issuer, expires_at, used_at FROM console_login_codes WHERE digest = ?',
          )
          .get(digest(code));
        if (!row) return { refused: 'unknown' as const };
        if (row.used_at !== null) return { refused: 'used' as const };
        this.db.prepare('UPDATE console_login_codes SET used_at = ? WHERE digest = ?').run(now, digest(code));
        if (row.expires_at <= now) return { refused: 'expired' as const };
        return { subject: row.subject, ...(row.issuer !== null && { issuer: row.issuer }) };
      })
      .immediate();
  }

  /** Starts a session; returns the cookie value and the CSRF token (neither stored, only their digests) and the session. */
  createSession(
    reviewer: Reviewer,
    now: number,
    ttlMs: number,
  ): { token: string; csrf: string; session: ConsoleSession } {
    const token = randomToken();
    const csrf = randomToken();
    const expiresAt = now + ttlMs;
    this.db
      .prepare(
        'INSERT INTO console_sessions (digest, subject, issuer, created_at, expires_at, csrf_digest) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(digest(token), reviewer.subject, reviewer.issuer ?? null, now, expiresAt, digest(csrf));
    this.db.prepare('DELETE FROM console_sessions WHERE expires_at < ?').run(now - 86_400_000);
    return {
      token,
      csrf,
      session: {
        subject: reviewer.subject,
        ...(reviewer.issuer !== undefined && { issuer: reviewer.issuer }),
        createdAt: now,
        expiresAt,
        csrfDigest: digest(csrf),
      },
    };
  }

  /** The live session for a cookie value, if any. */
  session(token: string | undefined, now: number): ConsoleSession | undefined {
    if (token === undefined || !TOKEN_SHAPE.test(token)) return undefined;
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
    // A session from before CSRF tokens were stored has none: it cannot act, so it is not a session.
    if (!row || row.ended_at !== null || row.expires_at <= now || row.csrf_digest === null) return undefined;
    return {
      subject: row.subject,
      ...(row.issuer !== null && { issuer: row.issuer }),
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      csrfDigest: row.csrf_digest,
    };
  }

  endSession(token: string, now: number): void {
    if (!TOKEN_SHAPE.test(token)) return;
    this.db
      .prepare('UPDATE console_sessions SET ended_at = ? WHERE digest = ? AND ended_at IS NULL')
      .run(now, digest(token));
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
