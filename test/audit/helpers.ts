// Shared by the audit tests: an in-process audit stage on a real SQLite file, and call contexts.
import { pino } from 'pino';
import { openAuditSink } from '../../src/audit/open.js';
import type { SqliteAuditSink } from '../../src/audit/sink.js';
import { AuditSchema, type AuditConfig } from '../../src/config/schema.js';
import type { CallContext } from '../../src/pipeline/context.js';
import type { Decision } from '../../src/pipeline/stages.js';

export const silent = pino({ level: 'silent' });

export function settings(overrides: Partial<AuditConfig> = {}): AuditConfig {
  return AuditSchema.parse(overrides);
}

export function openSink(dataDir: string, overrides: Partial<AuditConfig> = {}): Promise<SqliteAuditSink> {
  return openAuditSink({ dataDir, settings: settings(overrides), logger: silent, details: { test: true } });
}

let counter = 0;

export function callContext(overrides: Partial<CallContext> = {}): CallContext {
  counter += 1;
  return {
    requestId: `req-${counter}`,
    ingress: 'http',
    sessionId: 'session-1',
    jsonrpcId: counter,
    traceId: counter.toString(16).padStart(32, '0'),
    principal: {
      subject: 'agent:test',
      issuer: 'urn:test',
      delegation: [],
      scopes: [],
      authMethod: 'jwt',
      task: { id: 'task-1', purpose: 'testing' },
    },
    clientInfo: { name: 'test-host', version: '1.0' },
    method: 'tools/call',
    server: 'notes',
    target: 'notes__read',
    downstreamTarget: 'read',
    arguments: { name: `note-${counter}` },
    startedAt: Date.now(),
    ...overrides,
  };
}

export const ALLOW: Decision = {
  effect: 'allow',
  rule: 'test-allow',
  reason: 'allowed in tests',
  policyVersion: 'v-test',
};
export const DENY: Decision = { effect: 'deny', rule: 'test-deny', reason: 'denied in tests' };

/** A full call: intent, then an `ok` outcome. */
export async function recordCall(sink: SqliteAuditSink, ctx: CallContext = callContext()): Promise<CallContext> {
  const intent = await sink.intent(ctx, ALLOW);
  if (!intent.ok) throw new Error(intent.denial.reason);
  await sink.outcome(ctx, { status: 'ok', durationMs: 1, result: { content: [{ type: 'text', text: 'done' }] } });
  return ctx;
}
