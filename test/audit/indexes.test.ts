// Audit schema versions 5 and 6 (issue 21, cheaper rows): refused intents and outcomes other than ok are the
// only rows in the decision and outcome indexes, and only rows with a task are in the task indexes; `audit
// list`, the console's feed and its events panel filtered by those columns still read the indexes (a real
// SQLite file written through the real audit stage; query plans from SQLite itself).
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listQuery, listRecords, type RecordFilter } from '../../src/audit/queries.js';
import { auditFile, openAuditDb, type Db } from '../../src/audit/store.js';
import { eventsPage, feedPage, sqliteQuery, type Query } from '../../src/console/queries.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { verifyChain } from '../../src/audit/verify.js';
import { KeyStore } from '../../src/state/keys.js';
import { ALLOW, DENY, callContext, openSink, recordCall } from './helpers.js';

let dir: TempDir;
let db: Db;
const OUTCOMES = ['ok', 'ok', 'ok', 'tool_error', 'timeout'] as const;
/** Every third call and event is made without a task (a token issued for no task). */
const withoutTask = (i: number) => i % 3 === 0;

beforeAll(async () => {
  dir = await makeTempDir('warden-audit-indexes');
  const sink = await openSink(dir.path);
  for (let i = 0; i < 60; i += 1) {
    const ctx = callContext({ target: `notes__tool_${i % 4}`, startedAt: 1_000 + i });
    if (withoutTask(i)) ctx.principal = { ...ctx.principal, task: undefined };
    else if (i % 2 === 0) ctx.principal = { ...ctx.principal, task: { id: 'task-2', purpose: 'other work' } };
    const denied = i % 7 === 0;
    const intent = await sink.intent(ctx, denied ? DENY : ALLOW);
    if (!intent.ok) throw new Error(intent.denial.reason);
    await sink.outcome(ctx, { status: denied ? 'denied' : OUTCOMES[i % OUTCOMES.length]!, durationMs: 1 });
    const event = await sink.event({ type: 'task.begin', ...(!withoutTask(i) && { taskId: ctx.principal.task!.id }) });
    if (!event.ok) throw new Error(event.denial.reason);
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

/** The indexes SQLite reads for every statement a console query runs (the query answers its plan). */
async function consoleIndexes(run: (q: Query) => Promise<unknown>): Promise<string[]> {
  const used: string[] = [];
  const explain: Query = <T>(sql: string, params: readonly unknown[]) => {
    used.push(...indexesOf(sql, [...params]));
    return Promise.resolve([] as T[]);
  };
  await run(explain);
  return used;
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

describe('audit indexes of tasks (schema version 6)', () => {
  /** How many entries an index holds, counted from its pages (SQLite's dbstat table). */
  const entriesIn = (index: string) =>
    (db.prepare('SELECT sum(ncell) AS n FROM dbstat WHERE name = ?').get(index) as { n: number }).n;
  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;

  it('holds only intents and events that have a task', () => {
    const intents = count("SELECT count(*) AS n FROM entries WHERE kind = 'intent' AND task_id IS NOT NULL");
    const events = count("SELECT count(*) AS n FROM entries WHERE kind = 'event' AND task_id IS NOT NULL");
    expect(intents).toBe(40);
    expect(count("SELECT count(*) AS n FROM entries WHERE kind = 'intent'")).toBe(60);
    expect(entriesIn('intents_task')).toBe(intents);
    expect(events).toBe(40);
    expect(entriesIn('events_task')).toBe(events);
  });

  // A glob is planned as a range on the index or as a walk of the time index, by SQLite's estimate (on
  // this small file the latter, with the old full index too); either way every matching record comes back.
  it.each<[string, RecordFilter, boolean]>([
    ['--task task-2', { task: 'task-2' }, true],
    ['--task task-1 --outcome timeout', { task: 'task-1', outcome: 'timeout' }, true],
    ['--task task-*', { task: 'task-*' }, false],
  ])('audit list %s returns every matching record (reading intents_task: %s)', (_name, filter, indexed) => {
    const { sql, params } = listQuery({ ...filter, limit: 1000 });
    if (indexed) expect(indexesOf(sql, params)).toContain('intents_task');
    const rows = db
      .prepare(
        `SELECT i.id, i.task_id AS task, o.outcome FROM entries i JOIN entries o ON o.id = i.id AND o.kind = 'outcome'
         WHERE i.kind = 'intent' ORDER BY i.started_at DESC, i.seq DESC`,
      )
      .all() as { id: string; task: string | null; outcome: string }[];
    const expected = rows
      .filter(
        (r) => r.task !== null && (filter.task === 'task-*' ? r.task.startsWith('task-') : r.task === filter.task),
      )
      .filter((r) => filter.outcome === undefined || r.outcome === filter.outcome)
      .map((r) => r.id);
    expect(expected.length).toBeGreaterThan(0);
    expect(listRecords(db, { ...filter, limit: 1000 }).map((r) => r.id)).toEqual(expected);
  });

  it("the console's feed and events panel filtered by task read the task indexes", async () => {
    expect(await consoleIndexes((q) => feedPage(q, { task: 'task-2', limit: 50 }))).toContain('intents_task');
    expect(await consoleIndexes((q) => eventsPage(q, { taskId: 'task-2', limit: 50 }))).toContain('events_task');
    const feed = await feedPage(sqliteQuery(db), { task: 'task-2', limit: 500 });
    expect(feed.rows.map((r) => r.taskId)).toEqual(Array<string>(feed.rows.length).fill('task-2'));
    expect(feed.rows).toHaveLength(
      count("SELECT count(*) AS n FROM entries WHERE kind = 'intent' AND task_id = 'task-2'"),
    );
    const events = await eventsPage(sqliteQuery(db), { taskId: 'task-1', limit: 500 });
    expect(events).toHaveLength(count("SELECT count(*) AS n FROM entries WHERE kind = 'event' AND task_id = 'task-1'"));
  });
});

describe('a file written at schema version 5', () => {
  it('gets the narrower task indexes when a gateway opens it; its records are still found and verify', async () => {
    const old = await makeTempDir('warden-audit-v5');
    try {
      const first = await openSink(old.path);
      await recordCall(first, callContext());
      await recordCall(first, callContext({ principal: { ...callContext().principal, task: undefined } }));
      await first.close();
      // Back to what version 5 wrote: both task indexes over every intent and event, NULL keys included.
      const raw = new Database(auditFile(old.path));
      raw.exec(`DROP INDEX intents_task; DROP INDEX events_task;
        CREATE INDEX intents_task ON entries (task_id, started_at) WHERE kind = 'intent';
        CREATE INDEX events_task  ON entries (task_id, seq) WHERE kind = 'event';`);
      raw.pragma('user_version = 5');
      const before = raw.prepare("SELECT sum(ncell) AS n FROM dbstat WHERE name = 'intents_task'").get();
      raw.close();
      expect(before).toEqual({ n: 2 });

      const second = await openSink(old.path);
      await recordCall(second, callContext({ principal: { ...callContext().principal, task: undefined } }));
      await second.close();
      const file = openAuditDb(auditFile(old.path), { readonly: true });
      try {
        expect(file.pragma('user_version', { simple: true })).toBe(6);
        const inIndex = file.prepare("SELECT sum(ncell) AS n FROM dbstat WHERE name = 'intents_task'").get();
        expect(inIndex).toEqual({ n: 1 });
        expect(listRecords(file, { task: 'task-1' })).toHaveLength(1);
        expect(listRecords(file, {})).toHaveLength(3);
        expect(verifyChain(file, new KeyStore(old.path).allPublicKeys())).toMatchObject({ ok: true, problems: [] });
      } finally {
        file.close();
      }
    } finally {
      await old.cleanup();
    }
  });
});
