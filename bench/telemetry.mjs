#!/usr/bin/env node
// What observability costs a governed call (not part of npm test). `npm run build && node bench/telemetry.mjs`
// runs the suite's `warden HTTP→HTTP` target (all governance on, minted credential, HTTP echo server)
// three ways, in rotated order each round: telemetry off (no observer at all), metrics on (counted on
// every call, never scraped), and metrics plus traces exported over OTLP/HTTP to a receiver in this
// process that reads every request (as a collector on the same machine would). Medians of the rounds.
// Options: --rounds N (default 3), --calls N (sequential calls per round, default 400), --smoke.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { prepareGovernance } from './lib/setup.mjs';
import { defineTargets } from './lib/targets.mjs';
import { latency, median, throughput } from './lib/measure.mjs';
import { stopAll, stopAllOnExit, stopProcess } from './lib/procs.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    calls: { type: 'string', default: '400' },
    smoke: { type: 'boolean', default: false },
  },
});
const rounds = values.smoke ? 1 : Number(values.rounds);
const calls = values.smoke ? 20 : Number(values.calls);
const EXTRA_TOOLS = 10;
stopAllOnExit();

/** An OTLP/HTTP receiver that reads and counts what it is sent. */
const received = { requests: 0, bytes: 0 };
const receiver = createServer((req, res) => {
  req.on('data', (chunk) => (received.bytes += chunk.length));
  req.on('end', () => {
    received.requests += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${receiver.address().port}`;

const governance = prepareGovernance({ extraTools: EXTRA_TOOLS });
const base = JSON.parse(readFileSync(governance.files.http, 'utf8'));
const variants = {
  'telemetry off': base,
  'metrics on': { ...base, metrics: { enabled: true, port: 0 } },
  'metrics + traces': { ...base, metrics: { enabled: true, port: 0 }, telemetry: { otlp: { endpoint } } },
};
const targets = Object.entries(variants).map(([name, config]) => {
  // Same data folder (same signing key, pins and audit log), its own config file.
  const file = governance.files.http.replace(/\.config\.json$/, `.${name.replace(/\W+/g, '-')}.config.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const target = defineTargets({
    extraTools: EXTRA_TOOLS,
    governance: { ...governance, files: { ...governance.files, http: file } },
    peers: false,
  }).find((t) => t.name === 'warden HTTP→HTTP');
  return { ...target, name };
});

/**
 * The observer's own CPU per call, in this process: what the orchestrator calls for one call (begin,
 * eight stage marks, the downstream traceparent, end), for metrics alone and for metrics plus traces
 * (a real SDK tracer batching to the receiver). Not disturbed by the other processes' scheduling as much.
 */
async function observerCost() {
  const { GatewayMetrics } = await import('../dist/src/observe/metrics.js');
  const { startTracing, combineObservers } = await import('../dist/src/observe/telemetry.js');
  const { STAGES } = await import('../dist/src/pipeline/observer.js');
  const tracing = await startTracing(
    { otlp: { endpoint, headers: {} }, serviceName: 'bench', includeIdentity: false },
    {},
  );
  const metrics = new GatewayMetrics({ maxToolLabels: 500, processMetrics: false });
  const decision = { effect: 'allow', rule: 'bench', reason: '' };
  const ctx = {
    requestId: 'r',
    ingress: 'http',
    jsonrpcId: 1,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    principal: { subject: 's', issuer: 'i', delegation: [], scopes: [], authMethod: 'jwt' },
    method: 'tools/call',
    server: 'echo',
    target: 'echo__echo',
    downstreamTarget: 'echo',
    startedAt: 0,
  };
  const clock = () => performance.timeOrigin + performance.now();
  const run = (observer, n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const obs = observer.begin(ctx, clock());
      for (const stage of STAGES) {
        if (stage === 'forward') obs.downstream();
        obs.stage(stage, clock());
      }
      obs.end(clock(), decision, 'ok');
    }
    return ((performance.now() - t0) * 1000) / n;
  };
  const n = values.smoke ? 2_000 : 50_000;
  const out = {};
  for (const [name, observer] of [
    ['metrics', metrics],
    ['metrics + traces', combineObservers([metrics, tracing.observer])],
  ]) {
    run(observer, n / 10);
    out[name] = median([run(observer, n), run(observer, n), run(observer, n)]);
  }
  await tracing.shutdown();
  return out;
}

const errors = [];
const results = Object.fromEntries(targets.map((t) => [t.name, []]));
let perCall;
try {
  perCall = await observerCost();
  for (let round = 0; round < rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]);
    for (const target of order) {
      await target.start();
      const session = await target.connect();
      const lat = await latency(target, session, { calls, size: 100, warmup: values.smoke ? 5 : 50 }, errors);
      const extra = await Promise.all([1, 2, 3].map(() => target.connect()));
      const tput = await throughput(
        target,
        [session, ...extra],
        { durationMs: values.smoke ? 300 : 2_000, size: 100, warmup: 5 },
        errors,
      );
      for (const s of [session, ...extra]) await s.close();
      await stopProcess(target.proc, 10_000);
      results[target.name].push({ p50: lat.p50, p95: lat.p95, callsPerSecond: tput.callsPerSecond });
      process.stderr.write(
        `round ${round + 1} ${target.name}: p50 ${lat.p50.toFixed(3)} ms, p95 ${lat.p95.toFixed(3)} ms, ${tput.callsPerSecond.toFixed(0)} calls/s (4 sessions)\n`,
      );
    }
  }
} finally {
  await stopAll();
  receiver.close();
  governance.cleanup();
}
const off = median(results['telemetry off'].map((r) => r.p50));
console.log('| variant | p50 ms | Δ p50 vs off | p95 ms | calls/s, 4 sessions |');
console.log('|---|---|---|---|---|');
for (const [name, rows] of Object.entries(results)) {
  const p50 = median(rows.map((r) => r.p50));
  console.log(
    `| ${name} | ${p50.toFixed(3)} | ${name === 'telemetry off' ? '' : `${p50 - off >= 0 ? '+' : ''}${((p50 - off) * 1000).toFixed(0)} µs`} | ${median(rows.map((r) => r.p95)).toFixed(3)} | ${median(rows.map((r) => r.callsPerSecond)).toFixed(0)} |`,
  );
}
console.log(
  `\nObserver CPU per call, in-process (no observer: 0): metrics ${perCall['metrics'].toFixed(2)} µs, metrics + traces ${perCall['metrics + traces'].toFixed(2)} µs.`,
);
console.log(`OTLP receiver: ${received.requests} requests, ${received.bytes} bytes. Wrong answers: ${errors.length}.`);
if (errors.length > 0) {
  console.error(errors.slice(0, 10).join('\n'));
  process.exitCode = 1;
}
