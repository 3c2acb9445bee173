#!/usr/bin/env node
// `npm run bench`: starts everything it needs on 127.0.0.1, measures every target in the same run
// (rotating the order each round; medians of the rounds), checks every answer, prints a table and
// writes bench/results/latest.json. `--smoke` runs tiny counts for CI: every section, every check, no
// judgement of the numbers. Everything started is stopped by PID, also on failure and Ctrl-C.
// See docs/performance.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { prepareGovernance, ROOT, POLICY_RULES } from './lib/setup.mjs';
import { defineTargets } from './lib/targets.mjs';
import { latency, listing, median, setup, throughput } from './lib/measure.mjs';
import { openMany, sessionsAndChildren } from './lib/sessions.mjs';
import { stopAll, stopAllOnExit, stopProcess } from './lib/procs.mjs';
import { checkTargets, printTables } from './lib/report.mjs';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    sessions: { type: 'string' },
    churn: { type: 'string' },
    only: { type: 'string' },
    'no-peers': { type: 'boolean', default: false },
    out: { type: 'string' },
    profile: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: node bench/run.mjs [--smoke] [--rounds N] [--only SUBSTRING[,…]] [--no-peers] [--out FILE] [--profile DIR]
  --smoke      tiny counts: checks that every section works and every answer is right (CI)
  --rounds N   rounds, each target once per round in a rotated order (default 3)
  --sessions N HTTP sessions held open at once for the memory section (default 1000)
  --churn N    sessions opened, used and closed for the child-process section (default 1000)
  --only       measure only targets whose name contains one of these, and the direct connection of each one's
               transport (its baseline: direct HTTP for the HTTP targets and peers, direct stdio for stdio→stdio)
  --no-peers   leave out mcp-proxy, supergateway and the floors (bench/servers/relay.mjs: one hop, no governance)
  --out FILE   JSON result (default bench/results/latest.json, or bench/results/smoke.json with --smoke)
  --profile D  run the gateways with --cpu-prof, writing .cpuprofile files into D (see bench/profile-summary.mjs)`);
  process.exit(0);
}

const smoke = values.smoke;
const settings = smoke
  ? {
      rounds: 1,
      // A smoke checks that every section works and every answer is right, not how anything scales or
      // how fast it is: the fewest calls that still run each section once past its warm-up, and more
      // than one session wherever sessions run side by side (throughput, and churn, whose pool of 4 runs
      // both of its 2 sessions at once: each session is a stdio child, ≈0.6 CPU-s to start). 100 extra
      // tools (the full run lists 1,000) keep every target's start-up cheap.
      extraTools: 100,
      latency: { calls: 5, warmup: 1, size: 100 },
      throughput: { levels: [1, 2], durationMs: 100, warmup: 1, size: 100 },
      sizes: { calls: 1, warmup: 1 },
      list: { calls: 1, warmup: 1 },
      setup: { sessions: 1 },
      openSessions: 5,
      churn: 2,
    }
  : {
      rounds: 3,
      extraTools: 1000,
      // 1,000 warm-up calls: each round's stdio targets are fresh processes (a gateway per session), and
      // a fresh gateway's first few hundred calls run before V8 has optimised its hot path (p50 +2.8 ms
      // over direct stdio after 50 warm-up calls, +1.0-1.2 ms once warm). An agent host keeps its stdio
      // gateway for the whole session, so the steady state is the figure; a cold start is in `setup`.
      latency: { calls: 400, warmup: 1_000, size: 100 },
      throughput: { levels: [1, 4, 16], durationMs: 2_000, warmup: 20, size: 100 },
      sizes: { calls: 20, warmup: 3 },
      list: { calls: 30, warmup: 5 },
      setup: { sessions: 6 },
      openSessions: 1000,
      churn: 1000,
    };
if (values.rounds !== undefined) settings.rounds = Number(values.rounds);
if (values.sessions !== undefined) settings.openSessions = Number(values.sessions);
if (values.churn !== undefined) settings.churn = Number(values.churn);
for (const key of ['rounds', 'openSessions', 'churn']) {
  if (!Number.isInteger(settings[key]) || settings[key] < 1) {
    console.error(`bench: --${key === 'openSessions' ? 'sessions' : key} must be a positive whole number`);
    process.exit(2);
  }
}
const SIZES = { '1KB': 1024, '100KB': 100 * 1024, '1MB': 1024 * 1024 };
const outFile = resolve(values.out ?? join(ROOT, 'bench/results', smoke ? 'smoke.json' : 'latest.json'));

stopAllOnExit();
const errors = [];
const began = performance.now();
const log = (message) =>
  process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);

const governance = prepareGovernance({ extraTools: settings.extraTools });
let targets = defineTargets({ extraTools: settings.extraTools, governance, peers: !values['no-peers'] });
if (values.only) {
  const wanted = values.only.split(',');
  const picked = targets.filter((t) => wanted.some((w) => t.name.includes(w)));
  if (picked.length === 0) {
    console.error(`bench: --only ${values.only} names none of: ${targets.map((t) => t.name).join(', ')}`);
    governance.cleanup();
    process.exit(2);
  }
  // A direct target stays when it is the baseline of a picked one (the tables' ratios compare each target
  // with the direct connection of its own transport); one that no picked target is compared with does not.
  targets = targets.filter(
    (t) => picked.includes(t) || (t.name.startsWith('direct') && picked.some((p) => p.transport === t.transport)),
  );
}
if (values.profile) {
  mkdirSync(resolve(values.profile), { recursive: true });
  for (const t of targets) if (t.governed) t.nodeFlags = ['--cpu-prof', '--cpu-prof-dir', resolve(values.profile)];
}

const results = Object.fromEntries(
  targets.map((t) => [
    t.name,
    {
      transport: t.transport,
      governed: Boolean(t.governed),
      peer: Boolean(t.peer),
      floor: Boolean(t.floor),
      rounds: [],
    },
  ]),
);
let exitCode = 0;
let report;
try {
  for (const target of targets) {
    log(`starting ${target.name}`);
    await target.start();
  }
  for (let round = 0; round < settings.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]);
    for (const target of order) {
      log(`round ${round + 1}/${settings.rounds}: ${target.name}`);
      results[target.name].rounds.push(await measureTarget(target));
    }
  }
  const http = targets.find((t) => t.name === 'warden HTTP→HTTP');
  const httpStdio = targets.find((t) => t.name === 'warden HTTP→stdio');
  const sessionsSection = {};
  if (http) {
    log(`opening ${settings.openSessions} HTTP sessions on ${http.name}`);
    sessionsSection.openSessions = await openMany(http, settings.openSessions, errors);
  }
  if (httpStdio) {
    log(`opening and closing ${settings.churn} sessions on ${httpStdio.name} (a stdio child each)`);
    sessionsSection.churn = await sessionsAndChildren(httpStdio, settings.churn, errors);
  }
  report = buildReport(sessionsSection);
  printTables(report);
} catch (error) {
  errors.push(`run failed: ${error.stack ?? error.message}`);
} finally {
  for (const target of targets) if (target.proc) await stopProcess(target.proc);
  await stopAll();
  governance.cleanup();
}
if (report) {
  report.errors = errors.slice(0, 50);
  report.wrongAnswers = errors.length;
  report.ok = errors.length === 0 && report.missingSections.length === 0;
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(report, null, 2) + '\n');
  log(`wrote ${outFile}`);
}
if (errors.length > 0) {
  console.error(`\n${errors.length} wrong answer(s) or failure(s):\n  ${errors.slice(0, 20).join('\n  ')}`);
  exitCode = 1;
}
if (report && report.missingSections.length > 0) {
  console.error(`missing sections: ${report.missingSections.join(', ')}`);
  exitCode = 1;
}
process.exit(exitCode);

async function measureTarget(target) {
  const levels = settings.throughput.levels;
  const sessions = [];
  try {
    for (let i = 0; i < Math.max(...levels); i++) sessions.push(await target.connect());
    const round = {};
    round.latency = await latency(target, sessions[0], settings.latency, errors);
    round.sizes = {};
    for (const [label, size] of Object.entries(SIZES))
      round.sizes[label] = await latency(target, sessions[0], { ...settings.sizes, size }, errors);
    round.list = await listing(target, sessions[0], settings.list, errors);
    round.throughput = {};
    for (const level of levels)
      round.throughput[level] = await throughput(target, sessions.slice(0, level), settings.throughput, errors);
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    round.setup = await setup(target, settings.setup, errors);
    return round;
  } finally {
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  }
}

function buildReport(sessionsSection) {
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
  const medians = {};
  for (const [name, r] of Object.entries(results)) {
    const pick = (f) => median(r.rounds.map(f));
    medians[name] = {
      latencyMs: { p50: pick((x) => x.latency.p50), p95: pick((x) => x.latency.p95), p99: pick((x) => x.latency.p99) },
      throughput: Object.fromEntries(
        settings.throughput.levels.map((l) => [l, pick((x) => x.throughput[l].callsPerSecond)]),
      ),
      sizesP50Ms: Object.fromEntries(Object.keys(SIZES).map((k) => [k, pick((x) => x.sizes[k].p50)])),
      listP50Ms: pick((x) => x.list.p50),
      listBytesInP50Ms: pick((x) => x.list.bytesInP50),
      setupP50Ms: { connect: pick((x) => x.setup.connect.p50), toFirstResult: pick((x) => x.setup.toFirstResult.p50) },
    };
  }
  const report = {
    suite: 'mcp-warden bench',
    workDir: governance.dir,
    mode: smoke ? 'smoke' : 'full',
    date: new Date().toISOString(),
    machine,
    settings: { ...settings, policyRules: POLICY_RULES, auditDurability: 'process-crash', sizes: SIZES },
    governance:
      'JWT (built-in issuer, EdDSA) verified on every request; policy of 100 rules; task from the token (grants echo__*); audit intent + outcome (SQLite, process-crash durability); minted credential per call (header over HTTP, hidden argument over stdio) verified by the downstream',
    targets: results,
    medians,
    sessions: sessionsSection,
  };
  report.checks = checkTargets(report);
  report.missingSections = missingSections(report);
  return report;
}

function missingSections(report) {
  const missing = [];
  for (const [name, r] of Object.entries(report.targets)) {
    if (r.rounds.length !== settings.rounds) missing.push(`${name}: rounds`);
    for (const round of r.rounds) {
      if (!(round.latency?.n > 0)) missing.push(`${name}: latency`);
      for (const k of Object.keys(SIZES)) if (!(round.sizes?.[k]?.n > 0)) missing.push(`${name}: size ${k}`);
      if (!(round.list?.n > 0)) missing.push(`${name}: tools/list`);
      for (const l of settings.throughput.levels)
        if (!(round.throughput?.[l]?.calls > 0)) missing.push(`${name}: throughput@${l}`);
      if (!(round.setup?.connect?.n > 0)) missing.push(`${name}: session setup`);
    }
  }
  if (report.targets['warden HTTP→HTTP'] && !report.sessions.openSessions?.opened) missing.push('open HTTP sessions');
  if (report.targets['warden HTTP→stdio'] && !report.sessions.churn?.closed) missing.push('session churn');
  return [...new Set(missing)];
}
