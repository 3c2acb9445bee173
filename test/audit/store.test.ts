// The audit store on real SQLite files in a temp dir: durability of intents, group commit, migrations,
// two connections on one chain, recovery of open intents, the quota, prune anchors, external checkpoints.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activeSigner, listCheckpoints } from '../../src/audit/checkpoints.js';
import { APPLICATION_ID, SCHEMA_VERSION } from '../../src/audit/migrations.js';
import { pruneBefore } from '../../src/audit/prune.js';
import { listRecords } from '../../src/audit/queries.js';
import { auditFile, openAuditDb, PAGE_SIZE } from '../../src/audit/store.js';
import { verifyChain } from '../../src/audit/verify.js';
import { KeyStore } from '../../src/state/keys.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { ALLOW, callContext, openSink, recordCall } from './helpers.js';

let dir: TempDir;
beforeEach(async () => {
  dir = await makeTempDir('warden-audit-store');
});
afterEach(async () => {
  await dir.cleanup();
});

const keysOf = (dataDir: string) => new KeyStore(dataDir).allPublicKeys();
const reader = (dataDir: string) => new Database(auditFile(dataDir), { readonly: true });

describe('audit store', () => {
  it('creates the signing key on first start and commits an intent before intent() resolves', async () => {
    const sink = await openSink(dir.path);
    expect(new KeyStore(dir.path).exists()).toBe(true);
    expect(statSync(auditFile(dir.path)).mode & 0o777).toBe(0o600);
    const ctx = callContext();
    expect((await sink.intent(ctx, ALLOW)).ok).toBe(true);
    // Another connection, as another process would, already sees it.
    const other = reader(dir.path);
    const row = other.prepare("SELECT kind, subject, target, decision FROM entries WHERE kind = 'intent'").get();
    expect(row).toEqual({ kind: 'intent', subject: 'agent:test', target: 'notes__read', decision: 'allow' });
    other.close();
    await sink.outcome(ctx, { status: 'ok', durationMs: 3 });
    await sink.close();
    const db = openAuditDb(auditFile(dir.path), { readonly: true });
    expect(listRecords(db, {})).toMatchObject([
      { subject: 'agent:test', outcome: 'ok', durationMs: 3, taskId: 'task-1' },
    ]);
    expect(verifyChain(db, keysOf(dir.path)).ok).toBe(true);
    db.close();
  });

  it('group commit: concurrent calls share transactions, and every call still gets its own durable intent', async () => {
    const sink = await openSink(dir.path);
    const before = sink.commits;
    await Promise.all(Array.from({ length: 300 }, () => recordCall(sink)));
    const used = sink.commits - before;
    expect(used).toBeLessThanOrEqual(20); // 600 entries
    await sink.close();
    const db = openAuditDb(auditFile(dir.path), { readonly: true });
    expect(listRecords(db, { limit: 1000, outcome: 'ok' })).toHaveLength(300);
    expect(verifyChain(db, keysOf(dir.path))).toMatchObject({ ok: true, problems: [] });
    db.close();
  });

  it('applies migrations once, marks the file, and refuses newer or foreign databases', async () => {
    const sink = await openSink(dir.path);
    await sink.close();
    const db = new Database(auditFile(dir.path));
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openAuditDb(auditFile(dir.path))).toThrow(/written by a newer mcp-warden/);

    const foreign = join(dir.path, 'other.db');
    const other = new Database(foreign);
    other.exec('CREATE TABLE t (x)');
    other.close();
    expect(() => openAuditDb(foreign)).toThrow(/not an mcp-warden audit database/);
  });

  it('stores an intent of about 1 KB (what a governed call writes) in its leaf page, with no overflow page', async () => {
    const sink = await openSink(dir.path);
    for (let i = 0; i < 20; i += 1)
      await recordCall(sink, callContext({ arguments: { text: 'x'.repeat(330), size: i } }));
    await sink.close();
    const db = new Database(auditFile(dir.path), { readonly: true });
    const { min, max } = db
      .prepare("SELECT min(length(body)) AS min, max(length(body)) AS max FROM entries WHERE kind = 'intent'")
      .get() as { min: number; max: number };
    // The benchmark's governed calls (bench/cpu.mjs) write intent bodies of 975-977 bytes.
    expect(min).toBeGreaterThanOrEqual(950);
    expect(max).toBeLessThanOrEqual(1000);
    // With 1 KiB pages every such row spilled into an overflow page: one more page written per intent.
    const overflow = db.prepare("SELECT count(*) AS n FROM dbstat WHERE name = 'entries' AND pagetype = 'overflow'");
    expect(overflow.get()).toEqual({ n: 0 });
    db.close();
  });

  it('creates new files with 2 KiB pages and keeps the page size of a file an older version made', async () => {
    const sink = await openSink(dir.path);
    await recordCall(sink);
    await sink.close();
    const made = new Database(auditFile(dir.path), { readonly: true });
    expect(made.pragma('page_size', { simple: true })).toBe(PAGE_SIZE);
    made.close();

    // An empty file left by a first open that failed is still new: it gets the new page size and mode.
    const emptyDir = join(dir.path, 'empty');
    mkdirSync(emptyDir, { mode: 0o700 });
    writeFileSync(auditFile(emptyDir), '', { mode: 0o644 });
    const reopened = openAuditDb(auditFile(emptyDir));
    expect(reopened.pragma('page_size', { simple: true })).toBe(PAGE_SIZE);
    expect(reopened.pragma('wal_autocheckpoint', { simple: true })).toBe(20_480);
    reopened.close();
    expect(statSync(auditFile(emptyDir)).mode & 0o777).toBe(0o600);

    // A file an older version made: SQLite's default 4 KiB pages, fixed when WAL mode wrote the header.
    const legacyDir = join(dir.path, 'legacy');
    mkdirSync(legacyDir, { mode: 0o700 });
    const pre = new Database(auditFile(legacyDir));
    pre.pragma('page_size = 4096');
    pre.pragma('journal_mode = WAL');
    pre.close();
    chmodSync(auditFile(legacyDir), 0o600);
    const legacy = await openSink(legacyDir);
    await recordCall(legacy);
    await legacy.close();
    // Thresholds are set in bytes, so they mean the same at 4 KiB: about 40 MB of WAL before a checkpoint.
    const writer = openAuditDb(auditFile(legacyDir));
    expect(writer.pragma('wal_autocheckpoint', { simple: true })).toBe(10_240);
    writer.close();
    const db = openAuditDb(auditFile(legacyDir), { readonly: true });
    expect(db.pragma('page_size', { simple: true })).toBe(4096);
    expect(listRecords(db, {})).toMatchObject([{ outcome: 'ok' }]);
    expect(verifyChain(db, keysOf(legacyDir)).ok).toBe(true);
    db.close();
  });

  it('two gateways on one file extend one chain', async () => {
    const a = await openSink(dir.path);
    const b = await openSink(dir.path);
    await Promise.all(Array.from({ length: 100 }, (_, i) => recordCall(i % 2 ? a : b)));
    await a.close();
    await b.close();
    const db = openAuditDb(auditFile(dir.path), { readonly: true });
    const instances = db.prepare('SELECT DISTINCT instance FROM entries WHERE kind = ?').all('intent');
    expect(instances).toHaveLength(2);
    const report = verifyChain(db, keysOf(dir.path));
    expect(report).toMatchObject({ ok: true, problems: [] });
    expect(report.signaturesVerified).toBeGreaterThanOrEqual(4);
    db.close();
  });

  it('at start-up, marks intents of a gateway that is gone unknown_outcome and leaves a live one alone', async () => {
    const crashed = await openSink(dir.path);
    const live = await openSink(dir.path);
    const lost = callContext({ target: 'notes__lost' });
    expect((await crashed.intent(lost, ALLOW)).ok).toBe(true);
    const running = callContext({ target: 'notes__running' });
    expect((await live.intent(running, ALLOW)).ok).toBe(true);
    // The first gateway dies: its process is gone (a PID that has exited), it never recorded a stop.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    const raw = new Database(auditFile(dir.path));
    raw.prepare('UPDATE instances SET pid = ? WHERE id = ?').run(deadPid, crashed.instance);
    raw.close();

    const restarted = await openSink(dir.path);
    await live.outcome(running, { status: 'ok', durationMs: 5 });
    await restarted.close();
    await live.close();
    const db = openAuditDb(auditFile(dir.path), { readonly: true });
    expect(listRecords(db, { tool: 'notes__lost' })).toMatchObject([{ outcome: 'unknown_outcome' }]);
    expect(listRecords(db, { tool: 'notes__running' })).toMatchObject([{ outcome: 'ok' }]);
    const recovered = db
      .prepare("SELECT json_extract(body, '$.data.intents') AS n FROM entries WHERE type = 'audit.recovered'")
      .get();
    expect(recovered).toEqual({ n: 1 });
    expect(verifyChain(db, keysOf(dir.path)).ok).toBe(true);
    db.close();
  });

  it('refuses intents when the database reaches its quota, while outcomes of calls under way still land', async () => {
    const sink = await openSink(dir.path, { maxDatabaseBytes: 96 * 1024 });
    const accepted = [];
    let refusal: string | undefined;
    for (let i = 0; i < 500 && refusal === undefined; i += 1) {
      const ctx = callContext({ arguments: { text: 'x'.repeat(3000), i } });
      const intent = await sink.intent(ctx, ALLOW);
      if (intent.ok) accepted.push(ctx);
      else refusal = intent.denial.kind === 'audit_unavailable' ? intent.denial.reason : 'wrong kind';
    }
    expect(refusal).toMatch(/database or disk is full/);
    expect(accepted.length).toBeGreaterThan(0);
    for (const ctx of accepted) await sink.outcome(ctx, { status: 'ok', durationMs: 1 });
    await sink.close();
    const db = openAuditDb(auditFile(dir.path), { readonly: true });
    expect(listRecords(db, { limit: 1000, outcome: 'ok' })).toHaveLength(accepted.length);
    db.close();
  });

  it('records authentication failures, but an unauthenticated flood cannot fill the disk', async () => {
    const sink = await openSink(dir.path);
    for (let i = 0; i < 25; i += 1) sink.authFailure('invalid token', { ingress: 'http' });
    await recordCall(sink); // commits behind the queued events
    await sink.close();
    const db = openAuditDb(auditFile(dir.path), { readonly: true });
    const rows = db
      .prepare("SELECT json_extract(body, '$.data.reason') AS reason FROM entries WHERE type = 'auth.failure'")
      .all();
    expect(rows).toHaveLength(20);
    expect(rows[0]).toEqual({ reason: 'invalid token' });
    db.close();
  });

  it('prune removes old entries and leaves an anchor: the rest verifies, removing more does not', async () => {
    const sink = await openSink(dir.path, { checkpointEvery: 10 });
    for (let i = 0; i < 20; i += 1) await recordCall(sink);
    // The cut lies strictly between the two batches' millisecond timestamps: wait for the clock to move on.
    const lastOld = Date.now();
    await waitFor(() => Date.now() > lastOld, 'the next millisecond');
    const cut = Date.now();
    await waitFor(() => Date.now() > cut, 'the millisecond after the cut');
    for (let i = 0; i < 5; i += 1) await recordCall(sink);
    await sink.close();

    const db = openAuditDb(auditFile(dir.path));
    const result = pruneBefore(db, cut, await activeSigner(new KeyStore(dir.path)), Date.now());
    expect(result!.removed).toBeGreaterThanOrEqual(40);
    expect(listRecords(db, { limit: 100 })).toHaveLength(5);
    expect(verifyChain(db, keysOf(dir.path))).toMatchObject({ ok: true, anchor: { seq: result!.upTo } });

    db.prepare('DELETE FROM entries WHERE seq = ?').run(result!.upTo + 1);
    db.prepare('UPDATE anchors SET seq = ?, hash = (SELECT prev_hash FROM entries WHERE seq = ?)').run(
      result!.upTo + 1,
      result!.upTo + 2,
    );
    const report = verifyChain(db, keysOf(dir.path));
    expect(report.problems.map((p) => p.kind)).toContain('anchor');
    db.close();
  });

  it('verify --against: checkpoints kept elsewhere expose a tail dropped together with its checkpoints', async () => {
    const sink = await openSink(dir.path, { checkpointEvery: 10 });
    for (let i = 0; i < 30; i += 1) await recordCall(sink);
    await sink.close();
    const db = openAuditDb(auditFile(dir.path));
    const exported = { keys: keysOf(dir.path), checkpoints: listCheckpoints(db) };
    const keep = exported.checkpoints[1]!.seq;
    // A careful attacker: drops the tail, the checkpoints that covered it, and rewinds the head.
    db.prepare('DELETE FROM entries WHERE seq > ?').run(keep);
    db.prepare('DELETE FROM checkpoints WHERE seq > ?').run(keep);
    db.prepare('UPDATE chain_head SET seq = ?, hash = (SELECT hash FROM entries WHERE seq = ?)').run(keep, keep);
    expect(verifyChain(db, keysOf(dir.path)).ok).toBe(true);
    const report = verifyChain(db, keysOf(dir.path), exported);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['checkpoint', 'truncated']));
    db.close();
  });
});
