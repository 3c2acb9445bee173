// Audit schema version 5 (issue 21, cheaper rows): refused intents and outcomes other than ok are the only
// rows in the decision and outcome indexes, and `audit list` filtered by a decision or an outcome still reads
// those indexes (a real SQLite file written through the real audit stage; query plans from SQLite itself).
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listQuery, listRecords, type RecordFilter } from '../../src/audit/queries.js';
import { auditFile, openAuditDb, type Db } from '../../src/audit/store.js';
import { feedPage, sqliteQuery } from '../../src/console/queries.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { ALLOW, DENY, callContext, openSink } from './helpers.js';

let dir: TempDir;
let db: Db;
const OUTCOMES = ['ok', 'ok', 'ok', 'tool_error', 'timeout'] as const;

beforeAll(async () => {
  dir = await makeTempDir('warden-audit-indexes');
  const sink = await openSink(dir.path);
  for (let i = 0; i < 60; i += 1) {
    const ctx = callContext({ target: `notes__tool_${i % 4}`, startedAt: 1_000 + i });
    const denied = i % 7 === 0;
    const intent = await sink.intent(ctx, denied ? DENY : ALLOW);
    if (!intent.ok) throw new Error(intent.denial.reason);
    await sink.outcome(ctx, { status: denied ? 'denied' : OUTCOMES[i % OUTCOMES.length]!, durationMs: 1 });
  }
  await sink.close();
  db = openAuditDb(auditFile(dir.path), { readonly: true });
});
afterAll(async () => {
  db?.close();
  await dir.cleanup();
});

/** The indexes SQLite reads for a statement, from its query plan. */
function indexesOf(sql: string, params: unknown[]): string[] {
  const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
  return plan.flatMap((row) => /USING (?:COVERING )?INDEX (\w+)/.exec(row.detail)?.[1] ?? []);
}

/** What a filter should return, worked out from every row in JavaScript. */
function reference(filter: RecordFilter): string[] {
  const rows = db
    .prepare(
      `SELECT i.id, i.decision, o.outcome FROM entries i JOIN entries o ON o.id = i.id AND o.kind = 'outcome'
       WHERE i.kind = 'intent' AND i.type = 'tools/call' ORDER BY i.started_at DESC, i.seq DESC`,
    )
    .all() as { id: string; decision: string; outcome: string }[];
  return rows
    .filter((r) => filter.decision === undefined || r.decision === filter.decision)
    .filter((r) => filter.outcome === undefined || r.outcome === filter.outcome)
    .map((r) => r.id);
}

describe('audit indexes of decisions and outcomes (schema version 5)', () => {
  it('holds only refused intents and outcomes other than ok', () => {
    const file = new Database(auditFile(dir.path), { readonly: true });
    const names = (file.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]).map(
      (r) => r.name,
    );
    expect(names).toEqual(expect.arrayContaining(['intents_refused', 'outcomes_failed']));
    expect(names).not.toContain('intents_decision');
    expect(names).not.toContain('outcomes_outcome');
    const count = (sql: string) => (file.prepare(sql).get() as { n: number }).n;
    expect(
      count(
        "SELECT count(*) AS n FROM entries INDEXED BY intents_refused WHERE kind = 'intent' AND decision <> 'allow'",
      ),
    ).toBe(9);
    expect(
      count("SELECT count(*) AS n FROM entries INDEXED BY outcomes_failed WHERE kind = 'outcome' AND outcome <> 'ok'"),
    ).toBe(count("SELECT count(*) AS n FROM entries WHERE kind = 'outcome' AND outcome <> 'ok'"));
    file.close();
  });

  it.each<[string, RecordFilter, string]>([
    ['--decision deny', { decision: 'deny' }, 'intents_refused'],
    ['--outcome timeout', { outcome: 'timeout' }, 'outcomes_failed'],
    ['--outcome denied', { outcome: 'denied' }, 'outcomes_failed'],
  ])('audit list %s reads the narrow index and returns every matching record', (_name, filter, index) => {
    const { sql, params } = listQuery({ ...filter, limit: 1000 });
    expect(indexesOf(sql, params)).toContain(index);
    const ids = listRecords(db, { ...filter, limit: 1000 }).map((r) => r.id);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids).toEqual(reference(filter));
  });

  it.each<[string, RecordFilter]>([
    ['--decision allow', { decision: 'allow' }],
    ['--outcome ok', { outcome: 'ok' }],
    ['--decision d*', { decision: 'd*' }],
  ])('audit list %s (values the narrow indexes do not hold) still returns every matching record', (_n, filter) => {
    const ids = listRecords(db, { ...filter, limit: 1000 }).map((r) => r.id);
    const expected = filter.decision === 'd*' ? reference({ decision: 'deny' }) : reference(filter);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids).toEqual(expected);
  });

  it("the console's feed finds refused and failed calls the same way", async () => {
    expect((await feedPage(sqliteQuery(db), { decision: 'deny', limit: 500 })).rows.map((r) => r.id)).toEqual(
      reference({ decision: 'deny' }),
    );
    expect((await feedPage(sqliteQuery(db), { outcome: 'tool_error', limit: 500 })).rows.map((r) => r.id)).toEqual(
      reference({ outcome: 'tool_error' }),
    );
    expect((await feedPage(sqliteQuery(db), { outcome: 'ok', limit: 500 })).rows.map((r) => r.id)).toEqual(
      reference({ outcome: 'ok' }),
    );
  });
});
