// OpenTelemetry traces through the real gateway: `serve` exporting over OTLP/HTTP to a small receiver in
// this test, a real SDK client sending a W3C traceparent (in `_meta` and as an HTTP header), and the
// conformance fixture over HTTP reporting the trace context it received (header and `_meta`) and asking
// the agent for sampling, elicitation and roots in the middle of calls.
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { BIN, startFixtureHttp, writeConfig, type GatewayConfigInput } from '../helpers/gateway.js';
import { spawnReady, waitFor, type ReadyProcess, type TempDir } from '../helpers/process.js';
import { openRawSession, requestBody } from '../helpers/raw-http.js';

const SLOW = 120_000;
const RECORD_IMPORTS = join(import.meta.dirname, 'fixtures', 'record-imports.mjs');

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

/** An OTLP/HTTP (JSON) trace receiver: what a collector would get. */
async function startReceiver(): Promise<{ url: string; spans: OtlpSpan[]; requests: number; close(): Promise<void> }> {
  const state = { spans: [] as OtlpSpan[], requests: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      state.requests += 1;
      if (req.url === '/v1/traces' && req.headers['content-type']?.includes('json')) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const resource of body.resourceSpans)
          for (const scope of resource.scopeSpans) state.spans.push(...scope.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get spans() {
      return state.spans;
    },
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `serve` with the import recorder preloaded; everything @opentelemetry it resolves lands in `imports`. */
async function startRecordedGateway(
  input: GatewayConfigInput,
): Promise<{ proc: ReadyProcess; dir: TempDir; imports: string; url: string }> {
  const { dir, file } = await writeConfig(input);
  const imports = join(dir.path, 'imports.log');
  const proc = await spawnReady(
    process.execPath,
    ['--import', RECORD_IMPORTS, BIN, 'serve', '--config', file, '--port', '0'],
    {
      readyPattern: /^mcp-warden listening on (http:\/\/\S+)$/,
      env: {
        WARDEN_IMPORT_LOG: imports,
        OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
      },
    },
  );
  return { proc, dir, imports, url: proc.url! };
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'tracing-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

const attr = (span: OtlpSpan, key: string): unknown => {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
};

const AGENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const AGENT_SPAN = '00f067aa0ba902b7';
const HEADER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const LIST_TRACE = '1af7651916cd43dd8448eb211c80319d';
const HEADER_SPAN = 'b7ad6b7169203331';
/** A trace per call during which the fixture asks the agent something, and the request it asks. */
const RELAYS = [
  {
    trace: '2af7651916cd43dd8448eb211c80319e',
    tool: 'web__test_sampling',
    args: { prompt: 'sampling-canary-prompt' },
    method: 'sampling/createMessage',
  },
  {
    trace: '3af7651916cd43dd8448eb211c80319f',
    tool: 'web__test_elicitation',
    args: { message: 'elicitation-canary-message' },
    method: 'elicitation/create',
  },
  { trace: '4af7651916cd43dd8448eb211c8031a0', tool: 'web__fixture_roots', args: {}, method: 'roots/list' },
] as const;
/** A call on a session that negotiated an older protocol version. */
const OLD_TRACE = '5af7651916cd43dd8448eb211c8031a1';

// One downstream for the file: both gateways (with and without an endpoint) forward to the same fixture.
let downstream: ReadyProcess;

beforeAll(async () => {
  downstream = await startFixtureHttp();
});

afterAll(async () => {
  await downstream?.stop();
});

describe('traces over OTLP/HTTP', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let gateway: Awaited<ReturnType<typeof startRecordedGateway>>;
  let seen: { meta: { header?: string; meta?: string }; header: { header?: string; meta?: string } };

  beforeAll(async () => {
    receiver = await startReceiver();
    gateway = await startRecordedGateway({
      telemetry: { otlp: { endpoint: receiver.url } },
      servers: { web: { transport: 'http', url: downstream.url! } },
    });
    const echo = async (client: Client, meta?: Record<string, unknown>) => {
      const result = await client.callTool({
        name: 'web__fixture_request_headers',
        arguments: { note: 'argument-canary-value' },
        ...(meta && { _meta: meta }),
      });
      const structured = result.structuredContent as { headers: Record<string, string>; meta: Record<string, unknown> };
      return { header: structured.headers.traceparent, meta: structured.meta.traceparent as string | undefined };
    };
    const plain = await connect(gateway.url);
    const viaMeta = await echo(plain, { traceparent: `00-${AGENT_TRACE}-${AGENT_SPAN}-01` });
    await plain.listTools({ _meta: { traceparent: `00-${LIST_TRACE}-${AGENT_SPAN}-01` } });
    await plain.close();
    const headered = await connect(gateway.url, { traceparent: `00-${HEADER_TRACE}-${HEADER_SPAN}-01` });
    const viaHeader = await echo(headered);
    await headered.close();
    seen = { meta: viaMeta, header: viaHeader };

    // An agent that answers the three requests a server may send it; each call's request is relayed.
    const asked = new Client(
      { name: 'tracing-test', version: '1' },
      { capabilities: { sampling: {}, elicitation: { form: {} }, roots: {} } },
    );
    asked.setRequestHandler(CreateMessageRequestSchema, async () => ({
      model: 'test-model',
      role: 'assistant',
      content: { type: 'text', text: 'sampled-answer-canary' },
    }));
    asked.setRequestHandler(ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { username: 'elicited-user-canary', email: 'canary@example.test' },
    }));
    asked.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: 'file:///roots-canary', name: 'canary' }],
    }));
    await asked.connect(new StreamableHTTPClientTransport(new URL(gateway.url)));
    for (const relay of RELAYS) {
      const result = await asked.callTool({
        name: relay.tool,
        arguments: relay.args,
        _meta: { traceparent: `00-${relay.trace}-${AGENT_SPAN}-01` },
      });
      expect(result.isError).not.toBe(true);
    }
    await asked.close();

    const old = await openRawSession(new URL(gateway.url).origin, '2025-06-18');
    expect(old.protocolVersion).toBe('2025-06-18');
    const answered = await old.post(
      requestBody('tools/call', {
        name: 'web__fixture_request_headers',
        arguments: {},
        _meta: { traceparent: `00-${OLD_TRACE}-${AGENT_SPAN}-01` },
      }),
    );
    expect(answered.status).toBe(200);

    // Stopping the gateway sends what its exporter still holds.
    await gateway.proc.stop(20_000);
    const has = (trace: string, name: string) => receiver.spans.some((s) => s.traceId === trace && s.name === name);
    await waitFor(
      () =>
        receiver.spans.filter((s) => s.traceId === HEADER_TRACE && s.parentSpanId === HEADER_SPAN).length > 0 &&
        receiver.spans.filter((s) => s.traceId === AGENT_TRACE).length >= 8 &&
        receiver.spans.some((s) => s.traceId === LIST_TRACE) &&
        // A call's span ends after everything inside it: with it, its relayed request's span has arrived too.
        RELAYS.every((relay) => has(relay.trace, `tools/call ${relay.tool}`)) &&
        has(OLD_TRACE, 'tools/call web__fixture_request_headers'),
      'the spans at the receiver',
      20_000,
    );
  }, SLOW);

  afterAll(async () => {
    await gateway?.proc.stop();
    await gateway?.dir.cleanup();
    await receiver?.close();
  });

  it("continues the agent's _meta.traceparent: one server span, a child per stage, the forward span as the downstream call", () => {
    const spans = receiver.spans.filter((s) => s.traceId === AGENT_TRACE);
    const root = spans.find((s) => s.parentSpanId === AGENT_SPAN);
    expect(root).toBeDefined();
    expect(root!.name).toBe('tools/call web__fixture_request_headers');
    expect(root!.kind).toBe(2); // SERVER
    const children = spans.filter((s) => s.parentSpanId === root!.spanId);
    expect(children.map((s) => s.name).sort()).toEqual([
      'audit intent',
      'audit outcome',
      'authenticate',
      'authorize',
      'forward',
      'inject secrets',
      'scrub',
    ]);
    expect(spans).toHaveLength(8);
    const forward = children.find((s) => s.name === 'forward')!;
    expect(forward.kind).toBe(3); // CLIENT
    expect(attr(forward, 'mcp.warden.server')).toBe('web');
    // Children lie inside their parent and in stage order.
    for (const child of children) {
      expect(BigInt(child.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(root!.startTimeUnixNano));
      expect(BigInt(child.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(root!.endTimeUnixNano));
    }
    expect(attr(root!, 'gen_ai.tool.name')).toBe('web__fixture_request_headers');
    expect(attr(root!, 'mcp.warden.outcome')).toBe('ok');
    expect(attr(root!, 'mcp.warden.decision')).toBe('allow');
  });

  it("propagates the forward span's context to the downstream, as a header and in _meta", () => {
    const forward = receiver.spans.find((s) => s.traceId === AGENT_TRACE && s.name === 'forward')!;
    const expected = `00-${AGENT_TRACE}-${forward.spanId}-01`;
    expect(seen.meta.header).toBe(expected);
    expect(seen.meta.meta).toBe(expected);
  });

  it('continues a traceparent HTTP header the same way', () => {
    const root = receiver.spans.find((s) => s.traceId === HEADER_TRACE && s.parentSpanId === HEADER_SPAN)!;
    const forward = receiver.spans.find(
      (s) => s.traceId === HEADER_TRACE && s.name === 'forward' && s.parentSpanId === root.spanId,
    )!;
    expect(seen.header.header).toBe(`00-${HEADER_TRACE}-${forward.spanId}-01`);
    expect(seen.header.meta).toBe(`00-${HEADER_TRACE}-${forward.spanId}-01`);
  });

  it("gives a list request its own span, continuing the agent's trace, with the authorize step as its child", () => {
    const spans = receiver.spans.filter((s) => s.traceId === LIST_TRACE);
    const root = spans.find((s) => s.parentSpanId === AGENT_SPAN)!;
    expect(root.name).toBe('tools/list');
    expect(spans.filter((s) => s.parentSpanId === root.spanId).map((s) => s.name)).toEqual(['authorize']);
    expect(Number(attr(root, 'mcp.warden.shown'))).toBeGreaterThan(0);
  });

  it.each(RELAYS.map((relay) => [relay.method, relay] as const))(
    "gives the %s a downstream sends mid-call a client span under the call's span, with its method and server",
    (_method, relay) => {
      const spans = receiver.spans.filter((s) => s.traceId === relay.trace);
      const call = spans.find((s) => s.parentSpanId === AGENT_SPAN)!;
      expect(call.name).toBe(`tools/call ${relay.tool}`);
      const relayed = spans.filter((s) => s.name === relay.method);
      expect(relayed).toHaveLength(1);
      const span = relayed[0]!;
      expect(span.parentSpanId).toBe(call.spanId);
      expect(span.kind).toBe(3); // CLIENT: the gateway asks the agent
      expect(attr(span, 'mcp.method.name')).toBe(relay.method);
      expect(attr(span, 'mcp.warden.server')).toBe('web');
      expect(attr(span, 'mcp.warden.outcome')).toBe('ok');
      expect(attr(span, 'mcp.protocol.version')).toBe('2025-11-25');
      // Asked while the downstream request was in flight: inside the forward span.
      const forward = spans.find((s) => s.name === 'forward' && s.parentSpanId === call.spanId)!;
      expect(BigInt(span.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(forward.startTimeUnixNano));
      expect(BigInt(span.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(forward.endTimeUnixNano));
    },
  );

  it("records the protocol version each session negotiated on its calls' spans", () => {
    const root = (trace: string) => receiver.spans.find((s) => s.traceId === trace && s.parentSpanId === AGENT_SPAN)!;
    expect(attr(root(AGENT_TRACE), 'mcp.protocol.version')).toBe('2025-11-25');
    expect(attr(root(OLD_TRACE), 'mcp.protocol.version')).toBe('2025-06-18');
  });

  it('puts no argument value and no identity on any span without telemetry.includeIdentity', () => {
    const text = JSON.stringify(receiver.spans);
    for (const canary of [
      'sampling-canary-prompt',
      'elicitation-canary-message',
      'sampled-answer-canary',
      'elicited-user-canary',
      'roots-canary',
    ])
      expect(text).not.toContain(canary);
    expect(text).not.toContain('argument-canary-value');
    expect(text).not.toContain('test-agent');
    expect(text).not.toContain('enduser.id');
  });

  it('loads the OpenTelemetry SDK and exporter when an endpoint is configured', async () => {
    const imports = await readFile(gateway.imports, 'utf8');
    expect(imports).toMatch(/@opentelemetry\/sdk-trace\//);
    expect(imports).toMatch(/@opentelemetry\/exporter-trace-otlp-http\//);
  });
});

describe('without an OTLP endpoint', () => {
  it(
    'loads neither the SDK nor an exporter and sends nothing',
    async () => {
      const receiver = await startReceiver();
      const gateway = await startRecordedGateway({ servers: { web: { transport: 'http', url: downstream.url! } } });
      try {
        const client = await connect(gateway.url);
        const result = await client.callTool({
          name: 'web__fixture_request_headers',
          arguments: {},
          _meta: { traceparent: `00-${AGENT_TRACE}-${AGENT_SPAN}-01` },
        });
        await client.close();
        // The agent's own context still reaches the downstream in _meta, untouched (the gateway adds no span of its own).
        expect((result.structuredContent as { meta: Record<string, unknown> }).meta.traceparent).toBe(
          `00-${AGENT_TRACE}-${AGENT_SPAN}-01`,
        );
        await gateway.proc.stop(20_000);
        const imports = await readFile(gateway.imports, 'utf8').catch(() => '');
        expect(imports).not.toMatch(/sdk-trace|exporter|otlp|@opentelemetry\/resources/);
        expect(receiver.requests).toBe(0);
      } finally {
        await gateway.proc.stop();
        await gateway.dir.cleanup();
        await receiver.close();
      }
    },
    SLOW,
  );
});
