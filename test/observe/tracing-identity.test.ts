// The gateway's spans, in-process: the real tracing observer on the real SDK and OTLP/HTTP exporter,
// sending to a small receiver in this test. A call without a trace context keeps its audit trace id, and
// so does a request a server sends between calls; identity reaches a span only with
// telemetry.includeIdentity.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TelemetrySchema } from '../../src/config/observe-schema.js';
import type { Principal } from '../../src/model/principal.js';
import { startTracing } from '../../src/observe/telemetry.js';
import type { CallContext } from '../../src/pipeline/context.js';
import { STAGES } from '../../src/pipeline/observer.js';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

async function receive(run: (endpoint: string) => Promise<void>): Promise<Span[]> {
  const spans: Span[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: { scopeSpans: { spans: Span[] }[] }[];
      };
      for (const r of body.resourceSpans) for (const s of r.scopeSpans) spans.push(...s.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return spans;
}

const principal: Principal = {
  subject: 'agent:identity-canary',
  issuer: 'urn:test',
  delegation: [],
  scopes: [],
  authMethod: 'jwt',
  task: { id: 'task-canary' } as Principal['task'],
};
const TRACE = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const RELAY_TRACE = 'b1b2c3d4e5f60718293a4b5c6d7e8f91';

function call(): CallContext {
  return {
    requestId: 'req-1',
    ingress: 'http',
    jsonrpcId: 7,
    traceId: TRACE,
    principal,
    method: 'tools/call',
    server: 'notes',
    target: 'notes__read_note',
    downstreamTarget: 'read_note',
    arguments: { name: 'argument-canary' },
    startedAt: Date.now(),
  };
}

async function spansOf(includeIdentity: boolean): Promise<Span[]> {
  return receive(async (endpoint) => {
    const tracing = await startTracing(TelemetrySchema.parse({ otlp: { endpoint }, includeIdentity }), {});
    const observed = tracing!.observer.begin(call(), Date.now());
    let at = Date.now();
    for (const stage of STAGES) {
      if (stage === 'forward') observed.downstream();
      observed.stage(stage, (at += 1));
    }
    observed.end((at += 1), { effect: 'allow', rule: 'notes-read', reason: 'allowed' }, 'ok');
    // A roots/list the server sends after the call, refused by the agent.
    const relayed = tracing!.observer.relay!(
      {
        requestId: 'req-2',
        ingress: 'http',
        protocolVersion: '2025-06-18',
        traceId: RELAY_TRACE,
        principal,
        method: 'roots/list',
        server: 'notes',
        params: { canary: 'relay-param-canary' },
        startedAt: at,
      },
      (at += 1),
    );
    relayed.end((at += 1), 'rejected');
    await tracing!.shutdown();
  });
}

const attributes = (span: Span) =>
  Object.fromEntries((span.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]));

describe('gateway spans', () => {
  it('give a call without a trace context the trace id its audit record names, as a root span', async () => {
    const spans = await spansOf(false);
    const root = spans.find(
      (s) => s.traceId !== RELAY_TRACE && (s.parentSpanId === undefined || s.parentSpanId === ''),
    );
    expect(root?.traceId).toBe(TRACE);
    expect(spans.filter((s) => s.traceId === TRACE)).toHaveLength(1 + STAGES.length);
    expect(spans).toHaveLength(1 + STAGES.length + 1);
    // Identity and argument values stay off every span by default.
    const text = JSON.stringify(spans);
    for (const canary of ['agent:identity-canary', 'task-canary', 'argument-canary', 'relay-param-canary'])
      expect(text).not.toContain(canary);
  });

  it('give a request a server sends between calls a root span with the trace id its audit record names', async () => {
    const spans = (await spansOf(false)).filter((s) => s.traceId === RELAY_TRACE);
    expect(spans).toHaveLength(1);
    const span = spans[0]!;
    expect(span.parentSpanId || undefined).toBeUndefined();
    expect(span.name).toBe('roots/list');
    expect(attributes(span)).toEqual({
      'mcp.method.name': 'roots/list',
      'mcp.warden.server': 'notes',
      'mcp.warden.ingress': 'http',
      'mcp.warden.request_id': 'req-2',
      'mcp.protocol.version': '2025-06-18',
      'mcp.warden.outcome': 'rejected',
    });
  });

  it('carry the subject and task id only with telemetry.includeIdentity', async () => {
    const spans = await spansOf(true);
    const root = spans.find((s) => s.name === 'tools/call notes__read_note')!;
    expect(attributes(root)['enduser.id']).toBe('agent:identity-canary');
    expect(attributes(root)['mcp.warden.task_id']).toBe('task-canary');
    const relayed = spans.find((s) => s.traceId === RELAY_TRACE)!;
    expect(attributes(relayed)['enduser.id']).toBe('agent:identity-canary');
    expect(JSON.stringify(spans)).not.toContain('argument-canary');
    expect(JSON.stringify(spans)).not.toContain('relay-param-canary');
  });
});
