// The reviewer console's queries on a large synthetic audit log (not a test; build first):
//   node test/console/bench-queries.mjs [RECORDS]      (default 500000 records = 1,000,000 entries)
// Rows are inserted directly (no hash chain): this measures the indexed reads the console makes.
import { openAuditDb } from '../../dist/src/audit/store.js';
import { feedPage, idsByTrace, series, headsAfter, sqliteQuery } from '../../dist/src/console/queries.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
const dir = mkdtempSync(join(tmpdir(), 'cb-'));
const db = openAuditDb(join(dir, 'audit.db'), {});
const N = Number(process.argv[2] ?? 500000);
const ins = db.prepare(
  `INSERT INTO entries (id, kind, ts, started_at, instance, type, subject, task_id, server, target, decision, outcome, body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
);
const now = Date.now();
const agents = Array.from({ length: 50 }, (_, i) => `agent:${i}`);
const tools = Array.from({ length: 200 }, (_, i) => `srv${i % 10}__tool${i}`);
let traceSample;
db.transaction(() => {
  for (let i = 0; i < N; i++) {
    const id = `R${String(i).padStart(12, '0')}`;
    const t = now - (N - i) * 100;
    const a = agents[i % 50],
      tool = tools[(i * 7) % 200],
      dec = i % 20 === 0 ? 'deny' : 'allow';
    const trace = randomBytes(16).toString('hex');
    if (i === 1000) traceSample = trace;
    ins.run(
      id,
      'intent',
      t,
      t,
      'I',
      'tools/call',
      a,
      null,
      tool.split('__')[0],
      tool,
      dec,
      null,
      JSON.stringify({ traceId: trace, decision: { effect: dec, rule: 'r' }, arguments: { q: 'x'.repeat(100) } }),
      '0',
      '0',
    );
    ins.run(
      id,
      'outcome',
      t + 5,
      t,
      'I',
      'tools/call',
      a,
      null,
      tool.split('__')[0],
      tool,
      dec,
      dec === 'deny' ? 'denied' : 'ok',
      JSON.stringify({ outcome: 'ok', durationMs: 5 }),
      '0',
      '0',
    );
  }
})();
// The statements run synchronously inside on SQLite (the promise is already settled): timing the call times the query.
const q = sqliteQuery(db);
function time(label, fn, reps = 20) {
  fn();
  const samples = [];
  for (let r = 0; r < reps; r++) {
    const s = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  samples.sort((x, y) => x - y);
  console.log(`${label}: p50 ${samples[Math.floor(reps / 2)].toFixed(2)} ms, max ${samples.at(-1).toFixed(2)} ms`);
}
console.log(`${N} records (${2 * N} entries)`);
time('feed first page (50)', () => feedPage(q, { limit: 50 }));
const deep = { startedAt: now - (N - 100) * 100, seq: 200 };
time('feed page at the oldest end (keyset)', () => feedPage(q, { limit: 50, before: deep }));
time('feed filtered by agent', () => feedPage(q, { agent: 'agent:7', limit: 50 }));
time('feed filtered by tool glob', () => feedPage(q, { tool: 'srv3__*', limit: 50 }));
time('feed filtered by outcome=denied', () => feedPage(q, { outcome: 'denied', limit: 50 }));
time('feed agent + outcome=denied', () => feedPage(q, { agent: 'agent:0', outcome: 'denied', limit: 50 }));
time('search by trace id', () => idsByTrace(q, traceSample));
time('charts by agent, last hour', () => series(q, 'agent', now - 3600_000, 60_000), 5);
time('charts by tool, last 24 h', () => series(q, 'tool', now - 86_400_000, 900_000), 3);
time('live poll (500 after seq)', () => headsAfter(q, 2 * N - 500, 500));
db.close();
rmSync(dir, { recursive: true, force: true });
