// The console when its stores fail, through real processes and real SQLite: an audit log another process
// holds locked (no audit, no action: nothing changes, the reviewer is told), and checks that throw
// inside the WebSocket upgrade and the live feed's timer (the console process stays up).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { recordAdminEvents } from '../../src/audit/admin.js';
import { auditFile, openAuditDb } from '../../src/audit/store.js';
import { AuditSchema, ConsoleSchema } from '../../src/config/schema.js';
import { startConsole, type ConsoleServer } from '../../src/console/server.js';
import { ConsoleSessions } from '../../src/console/sessions.js';
import { createLogger } from '../../src/observe/logger.js';
import { stateFile } from '../../src/state/db.js';
import { TaskStore } from '../../src/tasks/store.js';
import { holdAuditLock } from '../helpers/locks.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import {
  consoleRequest,
  loginCode,
  signIn,
  startConsoleGateway,
  type ConsoleGateway,
  type SignedIn,
} from './helpers.js';

const PROXY_ORIGIN = 'https://review.example.com';

/** Events of this type the console wrote (`via: "console"`; the gateway records some types itself too). */
function eventCount(dataDir: string, type: string): number {
  const db = openAuditDb(auditFile(dataDir), { readonly: true });
  try {
    return (
      db
        .prepare(
          "SELECT count(*) AS n FROM entries WHERE kind = 'event' AND type = ? AND json_extract(body, '$.data.via') = 'console'",
        )
        .get(type) as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

describe('reviewer console: no audit, no action (real gateway, audit.db locked by another process)', () => {
  let warden: ConsoleGateway;
  let alice: SignedIn;

  beforeAll(async () => {
    warden = await startConsoleGateway({
      config: { audit: { busyTimeoutMs: 300 }, console: { enabled: true, port: 0, allowedOrigins: [PROXY_ORIGIN] } },
    });
    alice = await signIn(warden.origin, loginCode(warden.gateway.configFile, 'alice'));
  });

  afterAll(async () => {
    await warden?.stop();
  });

  it('refuses a revocation it cannot record (503) and changes nothing; the same request works once the log is writable', async () => {
    const store = TaskStore.open(stateFile(warden.dataDir));
    store.insert({
      id: 'task-locked',
      issuer: 'urn:test',
      subject: 'test-agent',
      source: 'session',
      gateway: 'test',
      createdAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
    });
    store.close();
    const request = { path: '/api/tasks/task-locked/revoke', cookie: alice.cookie, csrf: alice.csrf, body: {} };
    const lock = await holdAuditLock(warden.dataDir);
    let refused;
    let revokedAgent;
    try {
      refused = await consoleRequest(warden.origin, request);
      revokedAgent = await consoleRequest(warden.origin, {
        path: '/api/agents/revoke',
        cookie: alice.cookie,
        csrf: alice.csrf,
        body: { subject: 'agent:locked' },
      });
    } finally {
      await lock.release();
    }
    expect(refused.status, refused.text).toBe(503);
    expect(refused.json.error).toMatch(/nothing was changed/);
    expect(revokedAgent.status).toBe(503);
    const after = TaskStore.open(stateFile(warden.dataDir), { readonly: true });
    expect(after.get('task-locked')[0]?.endReason).toBeUndefined();
    expect(after.revocations().map((r) => r.subject)).not.toContain('agent:locked');
    after.close();
    expect(eventCount(warden.dataDir, 'task.revoke')).toBe(0);
    expect(eventCount(warden.dataDir, 'agent.revoke')).toBe(0);

    const done = await consoleRequest(warden.origin, request);
    expect(done.status, done.text).toBe(200);
    const revoked = TaskStore.open(stateFile(warden.dataDir), { readonly: true });
    expect(revoked.get('task-locked')[0]?.endReason).toBe('revoked');
    revoked.close();
    expect(eventCount(warden.dataDir, 'task.revoke')).toBe(1);
  });

  it('refuses a sign-in it cannot record: no cookie, and no session', async () => {
    const logins = eventCount(warden.dataDir, 'console.login');
    const code = loginCode(warden.gateway.configFile, 'alice');
    const lock = await holdAuditLock(warden.dataDir);
    let response;
    try {
      response = await consoleRequest(warden.origin, { path: '/api/login', body: { code } });
    } finally {
      await lock.release();
    }
    expect(response.status).toBe(503);
    expect(response.json.error).toMatch(/could not be written to the audit log/);
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(eventCount(warden.dataDir, 'console.login')).toBe(logins);
  });

  it('marks the session cookie Secure when the page is served over https (behind a TLS proxy)', async () => {
    const response = await consoleRequest(warden.origin, {
      path: '/api/login',
      origin: PROXY_ORIGIN,
      body: { code: loginCode(warden.gateway.configFile, 'alice') },
    });
    expect(response.status, response.text).toBe(200);
    expect(String(response.headers['set-cookie']?.[0])).toMatch(/; Secure$/);
    expect(alice.setCookie).not.toMatch(/Secure/);
  });
});

describe('reviewer console: a failing check never escapes into the process', () => {
  let dir: TempDir;
  let server: ConsoleServer;
  let origin: string;
  let failing = false;
  const reviewers = () => {
    if (failing) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    return [{ subject: 'alice' }];
  };

  beforeAll(async () => {
    dir = await makeTempDir('warden-console-faults');
    openAuditDb(auditFile(dir.path)).close();
    server = await startConsole({
      dataDir: dir.path,
      settings: ConsoleSchema.parse({ port: 0 }),
      host: '127.0.0.1',
      port: 0,
      reviewers,
      recordAccess: async () => ({ ok: true }),
      logger: createLogger({ level: 'silent' }),
    });
    origin = new URL(server.url).origin;
  });

  afterAll(async () => {
    await server?.close();
    await dir?.cleanup();
  });

  async function session(): Promise<SignedIn> {
    const sessions = ConsoleSessions.open(stateFile(dir.path));
    const { code } = await sessions.createLoginCode({ subject: 'alice' }, Date.now(), 120_000);
    await sessions.close();
    return signIn(origin, code);
  }

  it('refuses the upgrade with 503 when the session check throws, and keeps serving', async () => {
    const alice = await session();
    failing = true;
    let status: number | undefined;
    try {
      status = await new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(
          `${origin.replace('http', 'ws')}/api/live`,
          ['warden-console', `csrf.${alice.csrf}`],
          { headers: { origin, cookie: alice.cookie } },
        );
        socket.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          socket.terminate();
        });
        socket.once('open', () => reject(new Error('upgraded')));
        socket.once('error', () => undefined);
      });
      const api = await consoleRequest(origin, { path: '/api/session', cookie: alice.cookie });
      expect(api.status).toBe(503);
    } finally {
      failing = false;
    }
    expect(status).toBe(503);
    expect((await consoleRequest(origin, { path: '/api/session', cookie: alice.cookie })).status).toBe(200);
  });

  it('closes a live socket whose re-check throws, instead of throwing from the timer', async () => {
    const alice = await session();
    const socket = new WebSocket(`${origin.replace('http', 'ws')}/api/live`, ['warden-console', `csrf.${alice.csrf}`], {
      headers: { origin, cookie: alice.cookie },
    });
    await new Promise((resolve) => socket.once('message', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    failing = true;
    try {
      // A new entry makes the feed push, and re-check the session first.
      await recordAdminEvents({ dataDir: dir.path, settings: AuditSchema.parse({}), actor: 'test' }, [
        { type: 'test.event', data: {} },
      ]);
      expect(await closed).toBe(4401);
    } finally {
      failing = false;
    }
    expect((await consoleRequest(origin, { path: '/api/session', cookie: alice.cookie })).status).toBe(200);
  });
});
