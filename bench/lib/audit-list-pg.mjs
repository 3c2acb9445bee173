// `audit list` over 10 M entries on PostgreSQL (bench/audit-list-10m.mjs --store postgres): a database of
// its own is created, migrated by the real audit migrations, filled in SQL (generate_series, the same
// distributions as the SQLite file: 100 agents, 50 tools on 5 servers, 300 tasks, 1 in 13 calls denied,
// 7 in 10 ending ok; no hash chain), indexed after the rows, analysed, timed through the reviewer's own
// reader (PgAuditReader.listRecords, what `mcp-warden audit list` runs) and the whole CLI once, then
// dropped (unless --keep).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './setup.mjs';

const { default: pg } = await import('pg');
const { openPgAuditStore } = await import(join(ROOT, 'dist/src/audit/pg/open.js'));
const { PgAuditReader } = await import(join(ROOT, 'dist/src/audit/pg/reader.js'));
const { PostgresStoreSchema } = await import(join(ROOT, 'dist/src/config/store-schema.js'));

const DATABASE = 'warden_bench_audit_10m';
const load = () =>
  loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
const CHUNK = 500_000;

/** The `url` with another database name. */
function onDatabase(url, database) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.href;
}

async function build(url, rows, span, end) {
  const pool = await openPgAuditStore({ url, poolSize: 2, statementTimeoutMs: 600_000 });
  const client = await pool.connect();
  try {
    const indexes = (
      await client.query(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_entries' AND indexname <> 'audit_entries_pkey'",
      )
    ).rows;
    for (const { indexname } of indexes) await client.query(`DROP INDEX ${indexname}`);
    await client.query("SET synchronous_commit = off; SET maintenance_work_mem = '256MB'");
    const calls = Math.ceil(rows / 2);
    const t0 = process.hrtime.bigint();
    for (let start = 0; start < calls; start += CHUNK) {
      await client.query(
        `INSERT INTO audit_entries (seq, id, kind, ts, started_at, instance, type, subject, task_id, server, target,
                                    decision, outcome, body, prev_hash, hash)
         SELECT c.i * 2 + k.k + 1, lpad(c.i::text, 26, '0'), CASE k.k WHEN 0 THEN 'intent' ELSE 'outcome' END,
                c.started + k.k, c.started, 'bench', 'tools/call', c.subject, c.task, 'srv' || (c.tool % 5),
                'srv' || (c.tool % 5) || '__tool_' || c.tool, c.decision,
                CASE WHEN k.k = 0 THEN NULL WHEN c.decision = 'deny' THEN 'denied'
                  ELSE CASE c.fate WHEN 7 THEN 'tool_error' WHEN 8 THEN 'downstream_failed' WHEN 9 THEN 'timeout' ELSE 'ok' END END,
                CASE k.k WHEN 0 THEN json_build_object('v', 2, 'requestId', 'req-' || c.i, 'traceId', lpad(to_hex(c.i), 32, '0'),
                    'arguments', json_build_object('query', 'select ' || c.i, 'limit', 10),
                    'decision', json_build_object('effect', c.decision, 'rule', 'bench'))::text
                  ELSE json_build_object('v', 1, 'durationMs', c.i % 50)::text END,
                '', ''
         FROM (SELECT i, $3::bigint + i * $4::bigint / $5::bigint AS started,
                      'agent:bot-' || floor(random() * 100)::int AS subject, 'task-' || (i % 300) AS task,
                      floor(random() * 50)::int AS tool,
                      CASE WHEN random() < 1.0 / 13 THEN 'deny' ELSE 'allow' END AS decision,
                      floor(random() * 10)::int AS fate
               FROM generate_series($1::bigint, $2::bigint - 1) AS i) c,
              (VALUES (0), (1)) AS k(k)`,
        [start, Math.min(calls, start + CHUNK), end - span, span, calls],
      );
      process.stdout.write(`\r${Math.min(calls, start + CHUNK) * 2} entries`);
    }
    await client.query('UPDATE audit_chain_head SET seq = $1', [calls * 2]);
    const filled = Number(process.hrtime.bigint() - t0) / 1e9;
    for (const { indexdef } of indexes) await client.query(indexdef);
    await client.query('VACUUM ANALYZE audit_entries');
    const total = Number(process.hrtime.bigint() - t0) / 1e9;
    const size = (await client.query("SELECT pg_size_pretty(pg_total_relation_size('audit_entries')) AS s")).rows[0].s;
    console.log(
      `\rbuilt ${DATABASE}: ${calls * 2} entries, rows ${filled.toFixed(0)} s, with indexes ${total.toFixed(0)} s, ${size}`,
    );
  } finally {
    client.release();
    await pool.end();
  }
}

/** For each named filter (50 records at most, as `audit list`): the records found and the median of 7 runs, ms. */
async function timeFilters(reader, filters) {
  const out = [];
  for (const [name, filter] of Object.entries(filters)) {
    const times = [];
    let found = 0;
    for (let i = 0; i < 7; i += 1) {
      const t = process.hrtime.bigint();
      found = (await reader.listRecords({ ...filter, limit: 50 })).length;
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((a, b) => a - b);
    out.push({ name, found, p50: times[3] });
  }
  return out;
}

/** Builds (or, with --keep from an earlier run, reuses) the database, times every filter, drops it. */
export async function benchPostgres({ pgUrl, rows, keep, filters, span, end, cli }) {
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  const url = onDatabase(pgUrl, DATABASE);
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE])).rowCount > 0;
  let reuse = false;
  if (exists && keep) {
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    reuse =
      Number((await probe.query('SELECT max(seq) AS n FROM audit_entries')).rows[0].n) === Math.ceil(rows / 2) * 2;
    await probe.end();
  }
  if (!reuse) {
    if (exists) await admin.query(`DROP DATABASE ${DATABASE}`);
    await admin.query(`CREATE DATABASE ${DATABASE} ENCODING 'UTF8' TEMPLATE template0`);
    await build(url, rows, span, end);
  }
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-pg-'));
  try {
    const store = PostgresStoreSchema.parse({ kind: 'postgres', url, statementTimeoutMs: 60_000 });
    const reader = await PgAuditReader.open(store, dir, DATABASE);
    console.log(
      `audit list over ${rows.toLocaleString('en')} entries on PostgreSQL (${DATABASE}), node ${process.version}, load average ${load()}\n`,
    );
    let worst = 0;
    for (const { name, found, p50 } of await timeFilters(reader, filters)) {
      worst = Math.max(worst, p50);
      console.log(`audit list ${name.padEnd(36)} ${String(found).padStart(3)} rows  p50 ${p50.toFixed(2)} ms`);
    }
    await reader.close();
    const config = join(dir, 'mcp.config.json');
    writeFileSync(
      config,
      JSON.stringify({ version: 1, dataDir: './data', servers: {}, store: { kind: 'postgres', url } }),
    );
    const t = process.hrtime.bigint();
    const run = spawnSync(process.execPath, [join(ROOT, 'bin/mcp-warden.js'), '--config', config, 'audit', ...cli], {
      encoding: 'utf8',
    });
    console.log(
      `\nworst query p50 ${worst.toFixed(2)} ms (target <= 100 ms), load average ${load()}; mcp-warden audit ${cli.join(' ')}: whole process ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(0)} ms (exit ${run.status}${run.status === 0 ? '' : `: ${run.stderr.trim()}`}, node start-up included)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (!keep) await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await admin.end();
  }
}
