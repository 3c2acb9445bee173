// The audit benches' writer side (bench/audit.mjs, bench/audit-pg-chains.mjs): the real audit stage
// opened as the gateway opens it, synthetic tools/call contexts, and calls (intent + outcome each) kept
// in flight. Runs against dist/ (npm run build first).
import { join } from 'node:path';
import { pino } from 'pino';
import { ROOT } from './setup.mjs';

const { AuditSchema } = await import(join(ROOT, 'dist/src/config/schema.js'));

const logger = pino({ level: 'silent' });
const details = { bench: true };

const AGENTS = Array.from({ length: 100 }, (_, i) => `agent:bot-${i}`);
export const TOOLS = Array.from({ length: 50 }, (_, i) => `srv${i % 5}__tool_${i}`);
const OUTCOMES = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'tool_error', 'downstream_failed', 'timeout'];
const ALLOW = { effect: 'allow', rule: 'bench', reason: 'bench' };
const DENY = { effect: 'deny', rule: 'bench-deny', reason: 'bench' };

/** The audit settings of a config with `overrides` (the rest at their defaults). */
export const auditSettings = (overrides = {}) => AuditSchema.parse(overrides);

/** The SQLite audit stage on `dataDir`. */
export async function openSqliteSink(dataDir, settings) {
  const { openAuditSink } = await import(join(ROOT, 'dist/src/audit/open.js'));
  return openAuditSink({ dataDir, settings, logger, details });
}

/** The PostgreSQL audit stage in `pg.schema` (its signing key in `dataDir`). */
export async function openPgSink(pg, dataDir, settings) {
  const { openPgAuditSink } = await import(join(ROOT, 'dist/src/audit/pg/open.js'));
  return openPgAuditSink({ pg, dataDir, settings, logger, details });
}

/** Spreads i over [0, m) so agents, tools and outcomes vary independently (murmur3-style finaliser). */
export const mix = (i, salt, m) => {
  let h = Math.imul(i ^ salt, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) % m;
};

/** Call i as the pipeline hands it to the audit: one of 100 agents, 50 tools, 300 tasks. */
export function callContext(i) {
  const tool = TOOLS[mix(i, 0x1234, TOOLS.length)];
  return {
    requestId: `req-${i}`,
    ingress: 'http',
    sessionId: `s-${i % 20}`,
    jsonrpcId: i,
    traceId: i.toString(16).padStart(32, '0'),
    principal: {
      subject: AGENTS[mix(i, 0x5678, AGENTS.length)],
      issuer: 'urn:bench',
      delegation: [],
      scopes: [],
      authMethod: 'jwt',
      task: { id: `task-${i % 300}` },
    },
    clientInfo: { name: 'bench', version: '1' },
    method: 'tools/call',
    server: tool.split('__')[0],
    target: tool,
    downstreamTarget: tool.split('__')[1],
    arguments: { query: `select ${i}`, limit: 10 },
    startedAt: Date.now(),
  };
}

/**
 * One audited call: its intent, then its outcome. `varied`: 1 call in 13 denied, outcomes spread as in
 * production (7 in 10 ok); otherwise every call allowed and ok.
 */
export async function auditedCall(sink, i, varied = true) {
  const ctx = callContext(i);
  const denied = varied && mix(i, 0x9abc, 13) === 0;
  const intent = await sink.intent(ctx, denied ? DENY : ALLOW);
  if (!intent.ok) throw new Error(intent.denial.reason);
  const status = denied ? 'denied' : varied ? OUTCOMES[mix(i, 0xdef0, OUTCOMES.length)] : 'ok';
  await sink.outcome(ctx, {
    status,
    durationMs: i % 50,
    result: denied ? undefined : { content: [{ type: 'text', text: 'x' }] },
  });
}

/**
 * Keeps `concurrency` audited calls in flight until `calls` calls were made or `until` (epoch ms) has
 * passed, calling `after(i)` after each. Returns the calls made, wall seconds and this process's CPU seconds.
 */
export async function keepCalling(sink, { concurrency, calls = Infinity, until = Infinity, varied = true, after }) {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < calls && Date.now() < until) {
      const i = next++;
      await auditedCall(sink, i, varied);
      done += 1;
      after?.(i);
    }
  };
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(cpu);
  return {
    calls: done,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}
