// Audit store benchmark (not part of npm test). Runs against dist/: `npx tsc -p tsconfig.build.json && node bench/audit.mjs`.
//   1. sustained rows/s with group commit (many calls in flight, intent + outcome each), wall and per
//      CPU-second (on a loaded machine the wall figure measures the other processes); then the same with
//      a tools/list of 50 tools recorded after every 10th call (list records, issue 22)
//   2. added latency of intent + outcome per sequential call, for both durability settings
//   3. `audit list` with filters over 1,000,000 entries (query time, and the whole CLI process)
// Options: --rows N (entries for 3, default 1000000), --dir DIR (where the databases go; default a temp dir),
// --throughput-only (section 1 alone), --store postgres (section 1 on PostgreSQL at --pg-url, default
// MCP_WARDEN_PG_URL or postgres://postgres@127.0.0.1:5432/postgres, in a schema of its own dropped after).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  TOOLS,
  auditSettings,
  auditedCall,
  callContext,
  keepCalling,
  mix,
  openPgSink,
  openSqliteSink,
} from './lib/audit-load.mjs';
import { timeListFilters } from './lib/audit-list.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { openAuditDb, auditFile } = await import(join(ROOT, 'dist/src/audit/store.js'));

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    dir: { type: 'string' },
    'throughput-only': { type: 'boolean' },
    store: { type: 'string', default: 'sqlite' },
    'pg-url': {
      type: 'string',
      default: process.env.MCP_WARDEN_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    },
  },
});
const base = values.dir ? resolve(values.dir) : mkdtempSync(join(tmpdir(), 'warden-bench-'));
const settings = (durability) => auditSettings({ durability });

async function open(name, durability) {
  const dataDir = join(base, name);
  return { sink: await openSqliteSink(dataDir, settings(durability)), dataDir };
}

/** One agent's tools/list over the 50 tools, as the pipeline hands it to the audit (every 13th hidden). */
function listed(sink, i) {
  const principal = callContext(i).principal;
  const verdicts = new Uint8Array(TOOLS.length).map((_, t) => (mix(i + t, 0x4242, 13) === 0 ? 0 : 1));
  const shown = verdicts.reduce((a, b) => a + b, 0);
  const entries = TOOLS.map((target) => ({ server: target.split('__')[0], target }));
  sink.listed(
    { requestId: `list-${i}`, ingress: 'http', sessionId: `s-${i % 20}`, principal, method: 'tools/list' },
    { entries, verdicts, shown, hidden: TOOLS.length - shown, refused: false },
  );
}

/**
 * Keeps `concurrency` calls in flight until `rows` entries (2 per call) are written; with `listEvery`, a
 * list is recorded after every so many calls (its row not counted in `rows`). Wall seconds, CPU seconds.
 */
async function fill(sink, rows, concurrency, listEvery = 0) {
  let lists = 0;
  const after = (i) => {
    if (listEvery > 0 && i % listEvery === 0) {
      listed(sink, i);
      lists += 1;
    }
  };
  const { seconds, cpuSeconds } = await keepCalling(sink, { concurrency, calls: Math.ceil(rows / 2), after });
  return { seconds, cpuSeconds, lists };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const fmt = (ms) => `${ms.toFixed(3)} ms`;

if (values.store === 'postgres') {
  const schema = `bench_audit_${process.pid}`;
  const load = () =>
    loadavg()
      .map((n) => n.toFixed(1))
      .join(' ');
  console.log(`audit benchmark on PostgreSQL — node ${process.version}, schema ${schema}, load average ${load()}\n`);
  const sink = await openPgSink({ url: values['pg-url'], schema }, join(base, 'pg'), settings('process-crash'));
  const rows = 100_000;
  const { seconds, cpuSeconds } = await fill(sink, rows, 512);
  const commits = sink.commits;
  await sink.close();
  console.log(
    `group commit on PostgreSQL: ${rows} entries in ${seconds.toFixed(2)} s = ${Math.round(rows / 2 / seconds).toLocaleString('en')} audited calls/s (${Math.round(rows / seconds).toLocaleString('en')} entries/s) wall; ${cpuSeconds.toFixed(2)} s gateway CPU; ${(rows / commits).toFixed(0)} entries per commit (512 calls in flight); load average after ${load()}`,
  );
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: values['pg-url'] });
  await admin.connect();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  if (!values.dir) rmSync(base, { recursive: true, force: true });
  process.exit(0);
}

console.log(`audit benchmark — node ${process.version}, databases in ${base}\n`);

// 1. throughput
const perSecond = (rows, seconds) => Math.round(rows / seconds).toLocaleString('en');
for (const durability of ['process-crash', 'power-loss']) {
  const { sink } = await open(`throughput-${durability}`, durability);
  const rows = 200_000;
  const { seconds, cpuSeconds } = await fill(sink, rows, 512);
  console.log(
    `group commit, ${durability.padEnd(13)}: ${rows} entries in ${seconds.toFixed(2)} s = ${perSecond(rows, seconds)} rows/s wall; ${cpuSeconds.toFixed(2)} s CPU = ${perSecond(rows, cpuSeconds)} rows per CPU-second (512 calls in flight)`,
  );
  await sink.close();
}
{
  // The same calls with list records: a tools/list of 50 tools after every 10th call (one list.shown row each; the catalog once).
  const { sink, dataDir } = await open('throughput-lists', 'process-crash');
  const rows = 200_000;
  const { seconds, cpuSeconds, lists } = await fill(sink, rows, 512, 10);
  await sink.close();
  const db = openAuditDb(auditFile(dataDir), { readonly: true });
  const written = db.prepare("SELECT count(*) AS n FROM entries WHERE type IN ('list.shown', 'list.catalog')").get().n;
  db.close();
  const all = rows + written;
  console.log(
    `group commit with lists, process-crash: ${rows} call entries + ${written} list entries (${lists} lists) in ${seconds.toFixed(2)} s = ${perSecond(all, seconds)} rows/s wall; ${cpuSeconds.toFixed(2)} s CPU = ${perSecond(all, cpuSeconds)} rows per CPU-second`,
  );
}
if (values['throughput-only']) {
  if (!values.dir) rmSync(base, { recursive: true, force: true });
  process.exit(0);
}

// 2. latency per sequential call
console.log('');
for (const durability of ['process-crash', 'power-loss']) {
  const { sink } = await open(`latency-${durability}`, durability);
  for (let i = 0; i < 200; i += 1) await auditedCall(sink, i); // warm-up
  const samples = [];
  for (let i = 0; i < 3000; i += 1) {
    const t = process.hrtime.bigint();
    await auditedCall(sink, i);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  samples.sort((a, b) => a - b);
  console.log(
    `intent + outcome per sequential call, ${durability.padEnd(13)}: p50 ${fmt(pct(samples, 0.5))}, p99 ${fmt(pct(samples, 0.99))}, mean ${fmt(samples.reduce((a, b) => a + b, 0) / samples.length)}`,
  );
  await sink.close();
}

// 3. list over N entries
const rows = Number(values.rows);
console.log('');
const { sink, dataDir } = await open('list', 'process-crash');
const { seconds: fillSeconds } = await fill(sink, rows, 1024);
await sink.close();
console.log(
  `filled ${rows.toLocaleString('en')} entries in ${fillSeconds.toFixed(1)} s; file ${(statSync(auditFile(dataDir)).size / 1e6).toFixed(0)} MB`,
);
const db = openAuditDb(auditFile(dataDir), { readonly: true });
const now = Date.now();
const filters = {
  'no filter': {},
  '--agent': { agent: 'agent:bot-42' },
  '--tool': { tool: 'srv3__tool_13' },
  '--tool glob': { tool: 'srv3__*' },
  '--server --decision deny': { server: 'srv1', decision: 'deny' },
  '--task': { task: 'task-77' },
  '--outcome timeout': { outcome: 'timeout' },
  '--agent --outcome tool_error': { agent: 'agent:bot-42', outcome: 'tool_error' },
  '--tool --outcome timeout': { tool: 'srv2__tool_7', outcome: 'timeout' },
  '--agent nobody': { agent: 'agent:nobody' },
  '--since 10m --agent': { since: now - 600_000, agent: 'agent:bot-7' },
  '--until (oldest end) --tool': { until: now - 3_600_000, tool: 'srv0__tool_0' },
};
for (const { name, found, p50 } of timeListFilters(db, filters))
  console.log(`audit list ${name.padEnd(30)} ${String(found).padStart(3)} rows  query p50 ${fmt(p50)}`);
db.close();
const cli = ['list', '--agent', 'agent:bot-42', '--outcome', 'tool_error', '--json'];
const t = process.hrtime.bigint();
const run = spawnSync(process.execPath, [join(ROOT, 'bin/mcp-warden.js'), '--data-dir', dataDir, 'audit', ...cli], {
  encoding: 'utf8',
});
console.log(
  `\nmcp-warden audit ${cli.join(' ')}: whole process ${fmt(Number(process.hrtime.bigint() - t) / 1e6)} (exit ${run.status}, node start-up included)`,
);

if (!values.dir) rmSync(base, { recursive: true, force: true });
