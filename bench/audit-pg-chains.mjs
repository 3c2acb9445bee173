// Chain design on PostgreSQL (issue 19), not part of npm test. Runs against dist/:
//   npm run build && node bench/audit-pg-chains.mjs --url postgres://postgres@127.0.0.1:5432/postgres
// For 1, 2 and 4 writer processes (replicas), each running the real audit stage (src/audit/pg) with
// --inflight calls in flight (intent + outcome each) for --seconds, measures audited calls/s for:
//   global      one chain for every replica: audit_append takes the one chain head's row lock
//   per-replica each replica its own chain: the same function, locking a head row of its own
//               (entries keyed by (chain, seq)); cross-replica checkpoints would sign every head
// Each scheme and writer count gets a fresh schema, dropped afterwards.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { auditSettings, keepCalling, openPgSink } from './lib/audit-load.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.MCP_WARDEN_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
    seconds: { type: 'string', default: '8' },
    inflight: { type: 'string', default: '256' },
    writers: { type: 'string', default: '1,2,4' },
    writer: { type: 'string' },
    schema: { type: 'string' },
  },
});

/** Per-replica chains: the same audit_append signature, each instance appending to a chain of its own. */
const PER_REPLICA = `
  ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_pkey;
  ALTER TABLE audit_entries ADD COLUMN chain text NOT NULL DEFAULT '';
  ALTER TABLE audit_entries ADD PRIMARY KEY (chain, seq);
  CREATE TABLE audit_heads (chain text PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL);
  CREATE OR REPLACE FUNCTION audit_append(
    p_instance text, p_roles text[], p_ids text[], p_kinds text[], p_ts bigint[], p_started bigint[],
    p_instances text[], p_types text[], p_subjects text[], p_tasks text[], p_servers text[],
    p_targets text[], p_decisions text[], p_outcomes text[], p_headers text[], p_bodies text[]
  ) RETURNS TABLE (first_seq bigint, last_checkpoint bigint) LANGUAGE plpgsql AS $fn$
  DECLARE
    head_seq bigint; head_hash bytea; n integer := cardinality(p_ids);
    prevs text[] := array_fill(NULL::text, ARRAY[n]); hashes text[] := array_fill(NULL::text, ARRAY[n]);
  BEGIN
    INSERT INTO audit_heads VALUES (p_instance, 0, repeat('0', 64)) ON CONFLICT DO NOTHING;
    SELECT h.seq, decode(h.hash, 'hex') INTO head_seq, head_hash FROM audit_heads h WHERE h.chain = p_instance FOR UPDATE;
    FOR i IN 1..n LOOP
      prevs[i] := encode(head_hash, 'hex');
      head_hash := sha256(head_hash || convert_to(p_headers[i] || E'\\n' || p_bodies[i], 'UTF8'));
      hashes[i] := encode(head_hash, 'hex');
    END LOOP;
    INSERT INTO audit_entries (chain, seq, id, kind, ts, started_at, instance, type, subject, task_id, server,
                               target, decision, outcome, body, prev_hash, hash)
      SELECT p_instance, head_seq + u.o, u.id, u.kind, u.ts, u.started_at, u.instance, u.type, u.subject, u.task_id,
             u.server, u.target, u.decision, u.outcome, u.body, u.prev_hash, u.hash
      FROM unnest(p_ids, p_kinds, p_ts, p_started, p_instances, p_types, p_subjects, p_tasks, p_servers,
                  p_targets, p_decisions, p_outcomes, p_bodies, prevs, hashes)
           WITH ORDINALITY AS u(id, kind, ts, started_at, instance, type, subject, task_id, server, target,
                                decision, outcome, body, prev_hash, hash, o);
    UPDATE audit_heads SET seq = head_seq + n, hash = encode(head_hash, 'hex') WHERE chain = p_instance;
    INSERT INTO audit_open_intents (id, instance, seq)
      SELECT u.id, p_instance, head_seq + u.o FROM unnest(p_ids, p_roles) WITH ORDINALITY AS u(id, role, o)
      WHERE u.role = 'intent' ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, seq = excluded.seq;
    DELETE FROM audit_open_intents WHERE id IN (
      SELECT u.id FROM unnest(p_ids, p_roles) AS u(id, role) WHERE u.role = 'outcome');
    RETURN QUERY SELECT head_seq + 1, head_seq + n;
  END
  $fn$;`;

async function writer() {
  // The writer's data folder (its audit keys) is removed when it ends, whether it finished or failed.
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-bench-chains-'));
  let sink;
  try {
    sink = await openPgSink(
      { url: values.url, schema: values.schema, poolSize: 4 },
      dataDir,
      auditSettings({ checkpointEvery: 1_000_000 }),
    );
    // Ready; then wait for the parent's go, so every writer starts together.
    const go = new Promise((start) => process.once('message', start));
    process.send({ ready: true });
    await go;
    const until = Date.now() + Number(values.seconds) * 1000;
    const { calls, seconds, cpuSeconds } = await keepCalling(sink, {
      concurrency: Number(values.inflight),
      until,
      varied: false,
    });
    const commits = sink.commits;
    const closing = sink;
    sink = undefined;
    await closing.close();
    process.send({ calls, seconds, commits, cpu: cpuSeconds });
  } finally {
    await sink?.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function run(scheme, writers) {
  const schema = `bench_chains_${scheme.replace('-', '_')}_${writers}_${process.pid}`;
  const admin = new pg.Pool({ connectionString: values.url, max: 1 });
  try {
    const { openPgAuditStore } = await import(join(ROOT, 'dist/src/audit/pg/open.js'));
    const pool = await openPgAuditStore({ url: values.url, schema });
    if (scheme === 'per-replica') await pool.query(PER_REPLICA);
    await pool.end();
    const children = Array.from({ length: writers }, (_, w) =>
      fork(
        import.meta.filename,
        [
          '--url',
          values.url,
          '--schema',
          schema,
          '--writer',
          String(w),
          '--seconds',
          values.seconds,
          '--inflight',
          values.inflight,
        ],
        {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        },
      ),
    );
    // Each child says when its sink is open, then waits for the go.
    await Promise.all(children.map((child) => new Promise((done) => child.once('message', done))));
    const results = children.map((child) => new Promise((done) => child.once('message', done)));
    for (const child of children) child.send('go');
    const all = await Promise.all(results);
    const calls = all.reduce((a, r) => a + r.calls, 0);
    const seconds = Math.max(...all.map((r) => r.seconds));
    const perWriter = all.map((r) => Math.round(r.calls / r.seconds));
    const batch = (calls * 2) / all.reduce((a, r) => a + r.commits, 0);
    console.log(
      `${scheme.padEnd(11)} ${writers} writer(s): ${Math.round(calls / seconds)
        .toLocaleString('en')
        .padStart(
          7,
        )} calls/s in total; per writer ${perWriter.map((n) => n.toLocaleString('en')).join(', ')}; ${batch.toFixed(0)} entries per commit; writer CPU ${all.map((r) => r.cpu.toFixed(1)).join(', ')} s`,
    );
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.end();
  }
}

if (values.writer !== undefined) {
  await writer();
} else {
  console.log(
    `audit chains on PostgreSQL — node ${process.version}; ${values.inflight} calls in flight per writer, ${values.seconds} s each\n`,
  );
  for (const writers of values.writers.split(',').map(Number))
    for (const scheme of ['global', 'per-replica']) await run(scheme, writers);
}
