// One contract, two stores: the audit stage on a real SQLite file and on a real PostgreSQL schema must
// record, chain, sign, recover, verify (naming edited, deleted, reordered and truncated entries) and
// prune the same way. Every case runs against both.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activeSigner } from '../../src/audit/checkpoints.js';
import { openAuditSink } from '../../src/audit/open.js';
import { openPgAuditSink } from '../../src/audit/pg/open.js';
import { openPgAuditStore } from '../../src/audit/pg/open.js';
import { prunePgBefore } from '../../src/audit/pg/prune.js';
import { pgPublishedKeys, verifyPgChain } from '../../src/audit/pg/verify.js';
import { pruneBefore } from '../../src/audit/prune.js';
import { PgAuditReader } from '../../src/audit/pg/reader.js';
import { SqliteAuditReader, type AuditReader } from '../../src/audit/reader.js';
import type { AuditLog } from '../../src/audit/sink.js';
import { PostgresStoreSchema } from '../../src/config/store-schema.js';
import type { RelayContext } from '../../src/pipeline/context.js';
import { auditFile, openAuditDb } from '../../src/audit/store.js';
import { verifyChain, type VerifyReport } from '../../src/audit/verify.js';
import { KeyStore } from '../../src/state/keys.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { ALLOW, callContext, recordCall, settings } from './helpers.js';
import { testSchema, type TestSchema } from './pg-helpers.js';

const silent = pino({ level: 'silent' });
const ROOT = resolve(import.meta.dirname, '../..');

interface Store {
  name: 'sqlite' | 'postgres';
  open(dataDir: string, now?: () => number): Promise<AuditLog>;
  verify(dataDir: string): Promise<VerifyReport>;
  /** Runs SQL on the store's entries table, written `entries` and with `?` placeholders. */
  exec(dataDir: string, sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  prune(dataDir: string, before: number): Promise<{ removed: number; upTo: number } | undefined>;
  /** What a child process needs to open the same store: the module and its arguments, as JSON. */
  childOpen(dataDir: string): string;
  /** The reviewer commands' reader on the store (what `mcp-warden audit …` reads through). */
  reader(dataDir: string): Promise<AuditReader>;
}

let pgSchema: TestSchema;
beforeAll(async () => {
  pgSchema = await testSchema();
});
afterAll(async () => {
  await pgSchema.drop();
});

const sqlite: Store = {
  name: 'sqlite',
  open: (dataDir, now) =>
    openAuditSink({
      dataDir,
      settings: settings({ checkpointEvery: 5 }),
      logger: silent,
      details: { test: true },
      ...(now && { now }),
    }),
  verify: (dataDir) => {
    const db = openAuditDb(auditFile(dataDir), { readonly: true });
    try {
      return Promise.resolve(verifyChain(db, new KeyStore(dataDir).allPublicKeys()));
    } finally {
      db.close();
    }
  },
  exec: (dataDir, sql, params = []) => {
    const db = new Database(auditFile(dataDir));
    try {
      const statement = db.prepare(sql);
      return Promise.resolve(
        statement.reader ? (statement.all(...params) as Record<string, unknown>[]) : (statement.run(...params), []),
      );
    } finally {
      db.close();
    }
  },
  prune: async (dataDir, before) => {
    const db = openAuditDb(auditFile(dataDir));
    try {
      return pruneBefore(db, before, await activeSigner(new KeyStore(dataDir)), Date.now());
    } finally {
      db.close();
    }
  },
  childOpen: (dataDir) =>
    `const { openAuditSink } = await import(${JSON.stringify(join(ROOT, 'dist/src/audit/open.js'))});
     const open = () => openAuditSink({ dataDir: ${JSON.stringify(dataDir)}, settings, logger, details: {} });`,
  reader: (dataDir) =>
    Promise.resolve(new SqliteAuditReader(openAuditDb(auditFile(dataDir), { readonly: true }), auditFile(dataDir))),
};

/** Each data folder gets a schema of its own inside the file's test schema's database. */
const schemas = new Map<string, string>();
const pgOptions = (dataDir: string) => {
  let schema = schemas.get(dataDir);
  if (!schema) {
    schema = `${pgSchema.schema}_${schemas.size}`;
    schemas.set(dataDir, schema);
  }
  return { url: pgSchema.url, schema, poolSize: 3 };
};
const pgTable = (dataDir: string, sql: string) => {
  let n = 0;
  return sql
    .replace(/\bentries\b/g, `${pgOptions(dataDir).schema}.audit_entries`)
    .replace(/\bchain_head\b/g, `${pgOptions(dataDir).schema}.audit_chain_head`)
    .replace(/\?/g, () => `$${++n}`);
};

const postgres: Store = {
  name: 'postgres',
  open: (dataDir, now) =>
    openPgAuditSink({
      pg: pgOptions(dataDir),
      dataDir,
      settings: settings({ checkpointEvery: 5 }),
      logger: silent,
      details: { test: true },
      ...(now && { now }),
    }),
  verify: async (dataDir) => {
    const pool = await openPgAuditStore(pgOptions(dataDir));
    try {
      const keys = new Map([...(await pgPublishedKeys(pool)), ...new KeyStore(dataDir).allPublicKeys()]);
      return await verifyPgChain(pool, keys);
    } finally {
      await pool.end();
    }
  },
  exec: async (dataDir, sql, params = []) => (await pgSchema.admin.query(pgTable(dataDir, sql), params)).rows,
  prune: async (dataDir, before) => {
    const pool = await openPgAuditStore(pgOptions(dataDir));
    try {
      return await prunePgBefore(pool, before, await activeSigner(new KeyStore(dataDir)), Date.now());
    } finally {
      await pool.end();
    }
  },
  childOpen: (dataDir) =>
    `const { openPgAuditSink } = await import(${JSON.stringify(join(ROOT, 'dist/src/audit/pg/open.js'))});
     const open = () => openPgAuditSink({ pg: ${JSON.stringify(pgOptions(dataDir))}, dataDir: ${JSON.stringify(dataDir)}, settings, logger, details: {} });`,
  reader: (dataDir) =>
    PgAuditReader.open(PostgresStoreSchema.parse({ kind: 'postgres', ...pgOptions(dataDir) }), dataDir, 'test'),
};

/** A gateway process that commits `count` intents, says so, and waits to be killed. */
async function dyingWriter(store: Store, dataDir: string, count: number): Promise<() => Promise<void>> {
  const script = `
    const { pino } = await import('pino');
    const { AuditSchema } = await import(${JSON.stringify(join(ROOT, 'dist/src/config/schema.js'))});
    const settings = AuditSchema.parse({});
    const logger = pino({ level: 'silent' });
    ${store.childOpen(dataDir)}
    const sink = await open();
    for (let i = 0; i < ${count}; i++) {
      const r = await sink.intent({ requestId: 'r' + i, ingress: 'http', sessionId: 's', jsonrpcId: i,
        traceId: '0'.repeat(32), principal: { subject: 'agent:dying', issuer: 'urn:t', delegation: [], scopes: [],
        authMethod: 'jwt' }, method: 'tools/call', server: 'notes', target: 'notes__read', downstreamTarget: 'read',
        arguments: { i }, startedAt: Date.now() }, { effect: 'allow', rule: 'r', reason: 'r' });
      if (!r.ok) throw new Error(r.denial.reason);
    }
    console.log('intents committed');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const lines = createInterface({ input: child.stdout });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((ready, fail) => {
    lines.on('line', (line) => line === 'intents committed' && ready());
    child.once('exit', (code) => fail(new Error(`writer exited ${code}: ${stderr}`)));
  });
  return async () => {
    child.kill('SIGKILL');
    await exited;
  };
}

describe.each([sqlite, postgres])('audit store contract: $name', (store) => {
  let dir: TempDir;
  let n = 0;
  beforeAll(async () => {
    dir = await makeTempDir(`warden-contract-${store.name}`);
  });
  afterAll(async () => {
    await dir.cleanup();
  });
  const fresh = () => join(dir.path, `d${++n}`);

  it('commits an intent before intent() resolves, the outcome after; the chain and its checkpoints verify', async () => {
    const dataDir = fresh();
    const sink = await store.open(dataDir);
    const ctx = callContext();
    expect((await sink.intent(ctx, ALLOW)).ok).toBe(true);
    const intent = await store.exec(dataDir, "SELECT kind FROM entries WHERE kind = 'intent'");
    expect(intent).toHaveLength(1);
    await sink.outcome(ctx, { status: 'ok', durationMs: 1, result: { content: [] } });
    for (let i = 0; i < 12; i++) await recordCall(sink);
    await sink.close();
    const kinds = await store.exec(dataDir, 'SELECT kind, count(*) AS n FROM entries GROUP BY kind ORDER BY kind');
    expect(kinds.map((r) => [r.kind, Number(r.n)])).toEqual([
      ['event', 2],
      ['intent', 13],
      ['outcome', 13],
    ]);
    const report = await store.verify(dataDir);
    expect(report).toMatchObject({ ok: true, problems: [], entries: 28 });
    expect(report.signaturesVerified).toBeGreaterThanOrEqual(3);
  });

  it('many calls at once share commits and form one chain', async () => {
    const dataDir = fresh();
    const sink = await store.open(dataDir);
    const before = sink.commits;
    await Promise.all(Array.from({ length: 200 }, () => recordCall(sink)));
    expect(sink.commits - before).toBeLessThan(200);
    await sink.close();
    expect(await store.verify(dataDir)).toMatchObject({ ok: true, entries: 402 });
  });

  it('verify names an edited, a deleted, two swapped entries and a truncated tail', async () => {
    const dataDir = fresh();
    const sink = await store.open(dataDir);
    for (let i = 0; i < 20; i++) await recordCall(sink);
    await sink.close();
    await store.exec(dataDir, "UPDATE entries SET subject = 'agent:someone-else' WHERE seq = 5");
    await store.exec(dataDir, 'DELETE FROM entries WHERE seq = 10');
    const [a, b] = await store.exec(
      dataDir,
      'SELECT seq, id, body, prev_hash, hash FROM entries WHERE seq IN (20, 21) ORDER BY seq',
    );
    // Swap the content of 20 and 21 (each keeps its own hash and link, now at the other's position).
    await store.exec(dataDir, 'UPDATE entries SET seq = -1 WHERE seq = 20');
    await store.exec(dataDir, 'UPDATE entries SET seq = 20 WHERE seq = 21');
    await store.exec(dataDir, 'UPDATE entries SET seq = 21 WHERE seq = -1');
    expect(a && b).toBeTruthy();
    await store.exec(dataDir, 'DELETE FROM entries WHERE seq > 40');
    const report = await store.verify(dataDir);
    expect(report.ok).toBe(false);
    const messages = report.problems.map((p) => `${p.kind}: ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^modified: entry 5 .*was modified/),
        expect.stringMatching(/^deleted: entry 10 was deleted/),
        expect.stringMatching(/^reordered: entries 20 and 21 were swapped/),
        expect.stringMatching(/^truncated: tail truncated: entries 41-/),
      ]),
    );
  });

  it('prune removes the oldest entries behind a signed anchor; what remains verifies', async () => {
    const dataDir = fresh();
    const hourAgo = Date.now() - 3_600_000;
    const sink = await store.open(dataDir, () => hourAgo);
    for (let i = 0; i < 5; i++) await recordCall(sink);
    await sink.close();
    const later = await store.open(dataDir);
    await recordCall(later);
    await later.close();
    const pruned = await store.prune(dataDir, hourAgo + 1);
    // The first gateway's start, 5 calls and its stop.
    expect(pruned).toMatchObject({ removed: 12, upTo: 12 });
    const report = await store.verify(dataDir);
    expect(report).toMatchObject({ ok: true, problems: [] });
    expect(report.anchor?.seq).toBe(pruned?.upTo);
  });

  it("a killed gateway's open intents become unknown_outcome at the next start; the chain verifies", async () => {
    const dataDir = fresh();
    const first = await store.open(dataDir);
    await recordCall(first);
    await first.close();
    const kill = await dyingWriter(store, dataDir, 3);
    await kill();
    const next = await store.open(dataDir);
    await next.close();
    const outcomes = await store.exec(
      dataDir,
      "SELECT subject, outcome FROM entries WHERE kind = 'outcome' AND outcome = 'unknown_outcome'",
    );
    expect(outcomes).toEqual(Array.from({ length: 3 }, () => ({ subject: 'agent:dying', outcome: 'unknown_outcome' })));
    const recovered = await store.exec(dataDir, "SELECT body FROM entries WHERE type = 'audit.recovered'");
    expect(JSON.parse(recovered[0]!.body as string)).toMatchObject({ data: { intents: 3 } });
    expect(await store.verify(dataDir)).toMatchObject({ ok: true, warnings: [] });
  });
  it('stats order tied rows the same on both stores: an empty agent or tool (NULL) first, outcomes by name', async () => {
    const dataDir = fresh();
    const sink = await store.open(dataDir);
    await recordCall(sink);
    // A roots/list the server sent before the session's first request: no principal, no target (NULLs).
    const relay: RelayContext = {
      requestId: 'relay-1',
      ingress: 'http',
      traceId: '0'.repeat(32),
      method: 'roots/list',
      server: 'notes',
      params: {},
      startedAt: Date.now(),
    };
    expect((await sink.intent(relay, ALLOW)).ok).toBe(true);
    await sink.outcome(relay, { status: 'tool_error', durationMs: 1 });
    await sink.close();
    const reader = await store.reader(dataDir);
    try {
      const stats = await reader.stats({});
      expect(stats.byAgent.map((r) => [r.key, r.calls])).toEqual([
        [null, 1],
        ['agent:test', 1],
      ]);
      expect(stats.byTool.map((r) => [r.key, r.calls])).toEqual([
        [null, 1],
        ['notes__read', 1],
      ]);
      expect(stats.byOutcome).toEqual([
        { outcome: 'ok', count: 1 },
        { outcome: 'tool_error', count: 1 },
      ]);
    } finally {
      await reader.close();
    }
  });

  it('list and export with a glob on the outcome and another filter find the matching records', async () => {
    const dataDir = fresh();
    const sink = await store.open(dataDir);
    await recordCall(sink);
    const failed = callContext();
    expect((await sink.intent(failed, ALLOW)).ok).toBe(true);
    await sink.outcome(failed, { status: 'tool_error', durationMs: 1 });
    await sink.close();
    const reader = await store.reader(dataDir);
    try {
      const filter = { agent: 'agent:test', outcome: 'tool_*' };
      expect((await reader.listRecords(filter)).map((r) => [r.id, r.outcome])).toEqual([
        [expect.any(String), 'tool_error'],
      ]);
      const exported = [];
      for await (const record of reader.exportRecords(filter)) exported.push(record.summary.outcome);
      expect(exported).toEqual(['tool_error']);
      // ok: the intents drive the query (no index holds ok outcomes); the same records either way.
      expect((await reader.listRecords({ outcome: 'ok' })).map((r) => r.outcome)).toEqual(['ok']);
    } finally {
      await reader.close();
    }
  });
});
