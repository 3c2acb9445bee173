#!/usr/bin/env node
// What a 2026-07-28 (stateless) agent pays against a 2025 session (not part of npm test).
// `npm run build && node bench/eras.mjs` starts the suite's `warden HTTP→HTTP` target (all governance on,
// minted credential, HTTP echo server) and measures checked echo calls on one gateway, in rotated order
// each round: a 2025 session (SDK 1.x client) and a 2026 agent (SDK 2.x client pinned to 2026-07-28,
// bearer token on every POST, no session). Both reach the same pipeline; the 2026 requests also pass
// the envelope checks and the per-principal pool. Medians of the rounds.
// Options: --rounds N (default 3), --calls N (sequential calls per round, default 400), --smoke,
// --profile DIR (the gateway runs with --cpu-prof into DIR; summarise with bench/profile-summary.mjs).
// Beside each p50 it prints the gateway's own CPU per sequential call (user + system, from /proc).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2 } from '@modelcontextprotocol/client';
import { prepareGovernance } from './lib/setup.mjs';
import { defineTargets } from './lib/targets.mjs';
import { latency, median, throughput } from './lib/measure.mjs';
import { stopAll, stopAllOnExit, stopProcess } from './lib/procs.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    calls: { type: 'string', default: '400' },
    smoke: { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
});
const rounds = values.smoke ? 1 : Number(values.rounds);
const calls = values.smoke ? 20 : Number(values.calls);
const EXTRA_TOOLS = 10;
stopAllOnExit();

const governance = prepareGovernance({ extraTools: EXTRA_TOOLS });
const target = defineTargets({ extraTools: EXTRA_TOOLS, governance, peers: false }).find(
  (t) => t.name === 'warden HTTP→HTTP',
);

/** A 2026 agent: no session; its client sends the envelope and headers on every request. */
async function open2026() {
  const client = new ClientV2(
    { name: 'warden-bench-2026', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(
    new HttpV2(new URL(target.url), {
      requestInit: { headers: { authorization: `Bearer ${governance.tokens.http}` } },
    }),
  );
  return { client, close: () => client.close() };
}

if (values.profile) target.nodeFlags = ['--cpu-prof', '--cpu-prof-dir', resolve(values.profile)];

/** The gateway's CPU milliseconds so far (utime + stime, clock ticks of 10 ms). */
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

const eras = { '2025 session': () => target.connect(), '2026 stateless': open2026 };
const errors = [];
const results = Object.fromEntries(Object.keys(eras).map((name) => [name, []]));
try {
  await target.start();
  for (let round = 0; round < rounds; round++) {
    const names = Object.keys(eras);
    for (const name of names.map((_, i) => names[(i + round) % names.length])) {
      const session = await eras[name]();
      const before = cpuMs(target.proc.pid);
      const lat = await latency(target, session, { calls, size: 100, warmup: values.smoke ? 5 : 50 }, errors);
      const cpuPerCall = (cpuMs(target.proc.pid) - before) / Math.max(1, lat.n);
      const extra = await Promise.all([1, 2, 3].map(() => eras[name]()));
      const tput = await throughput(
        target,
        [session, ...extra],
        { durationMs: values.smoke ? 300 : 2_000, size: 100, warmup: 5 },
        errors,
      );
      for (const s of [session, ...extra]) await s.close();
      results[name].push({ p50: lat.p50, p95: lat.p95, callsPerSecond: tput.callsPerSecond, cpuPerCall });
      process.stderr.write(
        `round ${round + 1} ${name}: p50 ${lat.p50.toFixed(3)} ms, p95 ${lat.p95.toFixed(3)} ms, gateway CPU ${cpuPerCall.toFixed(3)} ms/call, ${tput.callsPerSecond.toFixed(0)} calls/s (4 agents)\n`,
      );
    }
  }
  await stopProcess(target.proc, 10_000);
} finally {
  await stopAll();
  governance.cleanup();
}
const base = median(results['2025 session'].map((r) => r.p50));
console.log('| agent | p50 ms | Δ p50 vs 2025 | p95 ms | gateway CPU ms/call | calls/s, 4 agents |');
console.log('|---|---|---|---|---|---|');
for (const [name, rows] of Object.entries(results)) {
  const p50 = median(rows.map((r) => r.p50));
  const delta = name === '2025 session' ? '' : `${p50 - base >= 0 ? '+' : ''}${((p50 - base) * 1000).toFixed(0)} µs`;
  console.log(
    `| ${name} | ${p50.toFixed(3)} | ${delta} | ${median(rows.map((r) => r.p95)).toFixed(3)} | ${median(rows.map((r) => r.cpuPerCall)).toFixed(3)} | ${median(rows.map((r) => r.callsPerSecond)).toFixed(0)} |`,
  );
}
console.log(`\nWrong answers: ${errors.length}.`);
if (errors.length > 0) {
  console.error(errors.slice(0, 10).join('\n'));
  process.exitCode = 1;
}
