// Sign-in codes and sessions on a real state.db in a temp dir, with the clock passed in (no waiting).
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { ConsoleSessions, csrfMatches, isReviewer } from '../../src/console/sessions.js';
import { listenerPolicy } from '../../src/console/http-util.js';
import { stateFile } from '../../src/state/db.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const T0 = 1_800_000_000_000;

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

describe('console sign-in codes and sessions', () => {
  let dir: TempDir;
  let sessions: ConsoleSessions;

  beforeAll(async () => {
    dir = await makeTempDir('warden-console-sessions');
    sessions = ConsoleSessions.open(stateFile(dir.path));
  });

  afterAll(async () => {
    sessions?.close();
    await dir?.cleanup();
  });

  it('a code works once, before its expiry, and is stored only as a digest', () => {
    const { code, expiresAt } = sessions.createLoginCode({ subject: 'alice', issuer: 'urn:idp' }, T0, 120_000);
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt).toBe(T0 + 120_000);
    // The digest is there (so the search below reads the right bytes), the code in no form.
    const stored = onDisk(stateFile(dir.path));
    expect(stored.includes(Buffer.from(createHash('sha256').update(code).digest('hex')))).toBe(true);
    for (const form of forms(code)) expect(stored.includes(form)).toBe(false);
    expect(sessions.redeemLoginCode(code, T0 + 1_000)).toEqual({ subject: 'alice', issuer: 'urn:idp' });
    expect(sessions.redeemLoginCode(code, T0 + 2_000)).toEqual({ refused: 'used' });
  });

  it.each([
    ['expired', T0 + 120_000, { refused: 'expired' }],
    ['one millisecond before expiry', T0 + 119_999, { subject: 'alice' }],
  ])('a code redeemed %s', (_name, at, expected) => {
    const { code } = sessions.createLoginCode({ subject: 'alice' }, T0, 120_000);
    expect(sessions.redeemLoginCode(code, at)).toEqual(expected);
  });

  it.each(['', 'short', 'A'.repeat(43), "'; DROP TABLE console_sessions; --", 'A'.repeat(10_000)])(
    'an unknown or malformed code is refused: %#',
    (code) => {
      expect(sessions.redeemLoginCode(code, T0)).toEqual({ refused: 'unknown' });
    },
  );

  it('a session token and its CSRF token are stored only as digests', () => {
    const { token, csrf } = sessions.createSession({ subject: 'alice' }, T0, 3_600_000);
    const stored = onDisk(stateFile(dir.path));
    expect(stored.includes(Buffer.from(createHash('sha256').update(token).digest('hex')))).toBe(true);
    expect(stored.includes(Buffer.from(createHash('sha256').update(csrf).digest('hex')))).toBe(true);
    for (const form of [...forms(token), ...forms(csrf)]) expect(stored.includes(form)).toBe(false);
  });

  it('a session lives until its expiry or until it is ended; its CSRF token is random and bound to it', () => {
    const { token, csrf, session } = sessions.createSession({ subject: 'alice' }, T0, 3_600_000);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrf).not.toBe(token);
    expect(sessions.session(token, T0 + 3_599_999)?.subject).toBe('alice');
    expect(sessions.session(token, T0 + 3_600_000)).toBeUndefined();
    expect(csrfMatches(session, csrf)).toBe(true);
    // Looked up again from the cookie, the session still knows (the digest of) its token.
    expect(csrfMatches(sessions.session(token, T0)!, csrf)).toBe(true);
    expect(JSON.stringify(sessions.session(token, T0))).not.toContain(csrf);
    const other = sessions.createSession({ subject: 'alice' }, T0, 3_600_000);
    expect(csrfMatches(session, other.csrf)).toBe(false);
    expect(csrfMatches(session, token)).toBe(false);
    expect(csrfMatches(session, undefined)).toBe(false);
    expect(csrfMatches(session, '')).toBe(false);
    sessions.endSession(other.token, T0 + 1);
    expect(sessions.session(other.token, T0 + 2)).toBeUndefined();
    expect(sessions.session(undefined, T0)).toBeUndefined();
  });

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
