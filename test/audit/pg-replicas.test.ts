// The audit log on PostgreSQL as several replicas use it: fail closed when the database is unreachable
// (a real TCP proxy in front of the real server, stopped and started again), several replicas on one
// chain, and a replica that vanished without stopping reconciled by another once its lease has passed.
import { spawn } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgBackend } from '../../src/audit/pg/backend.js';
import { openPgAuditSink, openPgAuditStore } from '../../src/audit/pg/open.js';
import { pgPublishedKeys, verifyPgChain } from '../../src/audit/pg/verify.js';
import { KeyStore } from '../../src/state/keys.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { ALLOW, callContext, recordCall, settings } from './helpers.js';
import { testSchema, type TestSchema } from './pg-helpers.js';

const silent = pino({ level: 'silent' });
const ROOT = resolve(import.meta.dirname, '../..');

/** A TCP proxy to the database that can be cut (every connection dropped, new ones refused) and restored. */
class Proxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: URL) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(this.target.port || 5432), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((done) => server.listen(this.port, '127.0.0.1', done));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((done) => server?.close(() => done()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  url(): string {
    const url = new URL(this.target.href);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.href;
  }
}

let db: TestSchema;
let dir: TempDir;
beforeAll(async () => {
  db = await testSchema();
  dir = await makeTempDir('warden-pg-replicas');
});
afterAll(async () => {
  await dir.cleanup();
  await db.drop();
});

const verify = async (schema: string, dataDirs: string[]) => {
  const pool = await openPgAuditStore({ url: db.url, schema });
  try {
    const keys = new Map(await pgPublishedKeys(pool));
    for (const d of dataDirs) for (const [kid, jwk] of new KeyStore(d).allPublicKeys()) keys.set(kid, jwk);
    return await verifyPgChain(pool, keys);
  } finally {
    await pool.end();
  }
};

describe('audit log on PostgreSQL, several replicas', () => {
  it('refuses calls while the database is unreachable, keeps the outcomes, and resumes when it returns', async () => {
    const proxy = new Proxy(new URL(db.url));
    await proxy.start();
    const schema = `${db.schema}_cut`;
    const dataDir = join(dir.path, 'cut');
    const sink = await openPgAuditSink({
      pg: { url: proxy.url(), schema, connectTimeoutMs: 2_000 },
      dataDir,
      settings: settings(),
      logger: silent,
      details: {},
    });
    const inFlight = callContext({ arguments: { n: 'in-flight' } });
    expect((await sink.intent(inFlight, ALLOW)).ok).toBe(true);

    await proxy.cut();
    const refused = await sink.intent(callContext({ arguments: { n: 'refused' } }), ALLOW);
    expect(refused).toMatchObject({ ok: false, denial: { kind: 'audit_unavailable' } });
    expect(!refused.ok && refused.denial.reason).toMatch(/^audit log unavailable: (database unreachable|connection)/);
    // The call under way when the database went: its outcome cannot be written yet, and is kept.
    await expect(sink.outcome(inFlight, { status: 'ok', durationMs: 1, result: { content: [] } })).rejects.toThrow(
      /audit log unavailable/,
    );
    expect(sink.backend.backlog).toBe(1);

    await proxy.start();
    await sink.backend.flush();
    expect(sink.backend.backlog).toBe(0);
    await recordCall(sink, callContext({ arguments: { n: 'after' } }));
    await sink.close();
    await proxy.cut();

    const rows = await db.admin.query<{ kind: string; args: string | null }>(
      `SELECT kind, body::jsonb #>> '{arguments,n}' AS args FROM ${schema}.audit_entries WHERE kind <> 'event' ORDER BY seq`,
    );
    expect(rows.rows).toEqual([
      { kind: 'intent', args: 'in-flight' },
      { kind: 'outcome', args: null },
      { kind: 'intent', args: 'after' },
      { kind: 'outcome', args: null },
    ]);
    expect(await verify(schema, [dataDir])).toMatchObject({ ok: true, problems: [] });
  });

  it('replicas writing at once form one chain; a replica gone silent past its lease is reconciled by another', async () => {
    const schema = `${db.schema}_many`;
    const dirs = ['a', 'b', 'c'].map((n) => join(dir.path, n));
    const open = (dataDir: string, leaseMs?: number) =>
      openPgAuditSink({
        pg: { url: db.url, schema },
        dataDir,
        settings: settings({ checkpointEvery: 50 }),
        logger: silent,
        details: {},
        ...(leaseMs !== undefined && { leaseMs }),
      });
    const [a, b] = await Promise.all([open(dirs[0]!), open(dirs[1]!)]);
    await Promise.all([
      ...Array.from({ length: 100 }, () => recordCall(a)),
      ...Array.from({ length: 100 }, () => recordCall(b)),
    ]);
    // Replica b vanishes with a call in flight: no outcome, no stop, no heartbeat any more.
    const stranded = callContext({ principal: { ...callContext().principal, subject: 'agent:stranded' } });
    expect((await b.intent(stranded, ALLOW)).ok).toBe(true);
    await (b.backend as PgBackend).close();
    // c starts with a lease shorter than the time since b was last seen: b is dead to it.
    const c = await open(dirs[2]!, 1);
    await recordCall(c);
    await Promise.all([a.close(), c.close()]);

    const outcome = await db.admin.query<{ outcome: string; instance: string }>(
      `SELECT outcome, instance FROM ${schema}.audit_entries WHERE kind = 'outcome' AND subject = 'agent:stranded'`,
    );
    expect(outcome.rows).toEqual([{ outcome: 'unknown_outcome', instance: c.instance }]);
    const instances = await db.admin.query<{ id: string; ended: string }>(
      `SELECT id, ended FROM ${schema}.audit_instances ORDER BY started_at, id`,
    );
    expect(new Map(instances.rows.map((r) => [r.id, r.ended]))).toEqual(
      new Map([
        [a.instance, 'stopped'],
        [b.instance, 'crashed'],
        [c.instance, 'stopped'],
      ]),
    );
    const report = await verify(schema, dirs);
    expect(report).toMatchObject({ ok: true, problems: [], warnings: [] });
    // a: start, 100 calls, stop; b: start, 100 calls, the stranded intent; c: recovered, its unknown_outcome, start, a call, stop.
    expect(report.entries).toBe(202 + 202 + 6);
  });

  it('a live replica that reconciles a dead one at its heartbeat records audit.recovered, as a start does', async () => {
    const schema = `${db.schema}_beat`;
    const open = (dataDir: string, timing: { heartbeatMs?: number; leaseMs?: number } = {}) =>
      openPgAuditSink({
        pg: { url: db.url, schema },
        dataDir,
        settings: settings(),
        logger: silent,
        details: {},
        ...timing,
      });
    const watcher = await open(join(dir.path, 'watcher'), { heartbeatMs: 20, leaseMs: 1 });
    const gone = await open(join(dir.path, 'gone'));
    const stranded = callContext({ principal: { ...callContext().principal, subject: 'agent:beat' } });
    expect((await gone.intent(stranded, ALLOW)).ok).toBe(true);
    await (gone.backend as PgBackend).close();
    const recovered = await waitFor(async () => {
      const rows = await db.admin.query<{ instance: string; body: string }>(
        `SELECT instance, body FROM ${schema}.audit_entries WHERE type = 'audit.recovered'`,
      );
      return rows.rows.length > 0 ? rows.rows : undefined;
    }, 'the watcher to record audit.recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]!.instance).toBe(watcher.instance);
    expect(JSON.parse(recovered[0]!.body)).toMatchObject({ data: { intents: 1, instances: [gone.instance] } });
    await watcher.close();
    expect(await verify(schema, [join(dir.path, 'watcher'), join(dir.path, 'gone')])).toMatchObject({ ok: true });
  });
  it('outcomes held in memory through an outage are lost with a killed replica; the next start marks those calls unknown_outcome', async () => {
    const proxy = new Proxy(new URL(db.url));
    await proxy.start();
    const schema = `${db.schema}_held`;
    const dataDir = join(dir.path, 'held');
    const pgOptions = { url: proxy.url(), schema, connectTimeoutMs: 1_000 };
    // A replica process: three calls' intents committed; told to, it finishes them (their outcomes cannot
    // be written while the database is cut, and are held for a retry), says how many it holds, and waits.
    const script = `
      const { pino } = await import('pino');
      const { AuditSchema } = await import(${JSON.stringify(join(ROOT, 'dist/src/config/schema.js'))});
      const { openPgAuditSink } = await import(${JSON.stringify(join(ROOT, 'dist/src/audit/pg/open.js'))});
      const sink = await openPgAuditSink({ pg: ${JSON.stringify(pgOptions)}, dataDir: ${JSON.stringify(dataDir)},
        settings: AuditSchema.parse({}), logger: pino({ level: 'silent' }), details: {} });
      const calls = [0, 1, 2].map((i) => ({ requestId: 'r' + i, ingress: 'http', sessionId: 's', jsonrpcId: i,
        traceId: '0'.repeat(32), principal: { subject: 'agent:held', issuer: 'urn:t', delegation: [], scopes: [],
        authMethod: 'jwt' }, method: 'tools/call', server: 'notes', target: 'notes__read', downstreamTarget: 'read',
        arguments: { i }, startedAt: Date.now() }));
      for (const ctx of calls) {
        const r = await sink.intent(ctx, { effect: 'allow', rule: 'r', reason: 'r' });
        if (!r.ok) throw new Error(r.denial.reason);
      }
      console.log('intents committed');
      process.stdin.once('data', async () => {
        await Promise.allSettled(calls.map((ctx) => sink.outcome(ctx, { status: 'ok', durationMs: 1 })));
        console.log('held ' + sink.backend.backlog);
      });
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    try {
      const lines = createInterface({ input: child.stdout });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const said = (pattern: RegExp) =>
        new Promise<string>((ready, fail) => {
          lines.on('line', (line) => pattern.test(line) && ready(line));
          child.once('exit', (code) => fail(new Error(`replica exited ${code}: ${stderr}`)));
        });
      await said(/^intents committed$/);
      await proxy.cut();
      child.stdin.write('finish\n');
      expect(await said(/^held \d+$/)).toBe('held 3');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    await proxy.start();

    // The next replica to start (the killed one's host, its process gone) closes the three calls.
    const next = await openPgAuditSink({
      pg: { url: db.url, schema },
      dataDir,
      settings: settings(),
      logger: silent,
      details: {},
    });
    await next.close();
    await proxy.cut();
    const outcomes = await db.admin.query<{ outcome: string; n: string }>(
      `SELECT outcome, count(*) AS n FROM ${schema}.audit_entries WHERE kind = 'outcome' AND subject = 'agent:held' GROUP BY outcome`,
    );
    expect(outcomes.rows).toEqual([{ outcome: 'unknown_outcome', n: '3' }]);
    const open = await db.admin.query(`SELECT id FROM ${schema}.audit_open_intents`);
    expect(open.rows).toEqual([]);
    expect(await verify(schema, [dataDir])).toMatchObject({ ok: true, problems: [] });
  });
});
