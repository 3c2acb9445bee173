// The tools/call hot path (issue 21): the same calls, through two real gateway processes with the same
// config, one with the hot path (the default) and one with `gateway.hotPath: false` (every request
// through the SDK), must give the agent the same answers and the audit the same rows: results,
// denials, errors, secrets scrubbed, a minted credential delivered. The fixture's
// `fixture_request_headers` tells which way a call reached it (the hot path's own JSON-RPC ids are
// strings; the SDK client's are numbers), so the test also proves which path served it, and that
// progress (which needs the SDK's token mapping) falls back. The HTTP fixture answers every POST with an
// event stream, so the hot path's downstream side reads event streams here, not only JSON.
// 2026-07-28 requests keep their own path (input_required rounds); they are checked to answer the same.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTokenAsync, runCliAsync } from '../helpers/cli.js';
import { fixtureServer, launchedFixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { mcpHeaders, rawRequest } from '../helpers/raw-http.js';

const RESOURCE = 'http://gateway.test/mcp';
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: fx-tools, effect: allow, tools: [fx__test_simple_text, fx__test_error_handling, fx__fixture_progress, fx__test_tool_with_logging] }
      - { id: web-tools, effect: allow, tools: ["web__fixture_*"] }
grants:
  - { id: no-big, effect: deny, tools: ["*__fixture_big"] }
`;
const JWT = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;

interface Answer {
  ok: boolean;
  result?: Record<string, unknown>;
  code?: number;
  message?: string;
}

interface Side {
  gateway: RunningGateway;
  token: string;
  client: Client;
  leakFile: string;
}

async function callTool(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Answer> {
  return client.callTool({ name, arguments: args }).then(
    (result) => ({ ok: true, result: result as Record<string, unknown> }),
    (error: { code?: number; message?: string }) => ({ ok: false, code: error.code, message: String(error.message) }),
  );
}

/** A result with what differs between two calls by design (JSON-RPC ids, per-call credentials) set aside. */
function comparable(answer: Answer): Answer {
  const text = JSON.stringify(answer)
    .replace(/"requestId":("warden-hot-[0-9-]+"|\d+)/g, '"requestId":"ID"')
    .replace(/"(host|mcp-session-id|content-length)":"[^"]*"/g, '"$1":"X"')
    .replace(/\\"(host|mcp-session-id|content-length)\\":\\"[^"\\]*\\"/g, '\\"$1\\":\\"X\\"');
  return JSON.parse(text) as Answer;
}

describe('the tools/call hot path answers and records exactly what the SDK path does', () => {
  let dir: TempDir;
  let hot: Side;
  let sdk: Side;

  async function side(name: string, hotPath: boolean): Promise<Side> {
    const leakFile = join(dir.path, `${name}-leak.jsonl`);
    const gateway = await startGateway({
      auth: { mode: 'jwt', resource: RESOURCE, builtin: {}, maxTokenLifetimeSeconds: 3600 },
      policy: { files: [join(dir.path, 'policy.yaml')] },
      gateway: { hotPath },
      secrets: { web: { source: 'minted', audience: 'urn:test:web', ttlSeconds: 60 } },
      servers: {
        fx: fixtureServer(),
        web: {
          ...launchedFixtureServer({}, { FIXTURE_SCHEME: 'web', FIXTURE_LEAK_FILE: leakFile }),
          secrets: { headers: { Authorization: 'Bearer {{secret:web}}' } },
        },
      },
    });
    const token = await issueTokenAsync(gateway.configFile, ['--sub', 'agent:hot']);
    const client = new Client({ name: 'hot-path-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gateway.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return { gateway, token, client, leakFile };
  }

  beforeAll(async () => {
    dir = await makeTempDir('warden-hot');
    await writeFile(join(dir.path, 'policy.yaml'), POLICY);
    [hot, sdk] = await Promise.all([side('hot', true), side('sdk', false)]);
  });

  afterAll(async () => {
    await hot?.client.close();
    await sdk?.client.close();
    await Promise.all([hot?.gateway.stop(), sdk?.gateway.stop()]);
    await dir?.cleanup();
  });

  const CALLS: [string, Record<string, unknown>][] = [
    ['fx__test_simple_text', {}],
    ['fx__test_error_handling', {}],
    ['web__fixture_request_headers', {}],
    ['web__fixture_leak', {}],
    ['web__fixture_leak', { fail: true }],
    ['fx__fixture_pid', {}], // hidden by policy: reads as unknown
    ['fx__no_such_tool', {}],
    ['web__fixture_big', { mb: 0 }], // denied by a rule: reads as unknown too
  ];

  it('same answers, same audit rows; the hot gateway served the calls without the SDK client', async () => {
    for (const [name, args] of CALLS) {
      const [viaHot, viaSdk] = [await callTool(hot.client, name, args), await callTool(sdk.client, name, args)];
      if (name === 'web__fixture_leak') {
        // Its text echoes every header in five encodings (ports and session ids differ): compared by kind,
        // and neither holds the credential it was sent.
        expect([viaHot.ok, viaHot.code, viaHot.result?.isError], name).toEqual([
          viaSdk.ok,
          viaSdk.code,
          viaSdk.result?.isError,
        ]);
        expect(JSON.stringify(viaHot)).not.toMatch(JWT);
        expect(JSON.stringify(viaSdk)).not.toMatch(JWT);
      } else expect(comparable(viaHot), name).toEqual(comparable(viaSdk));
    }
    // Which way the calls reached the downstream: the hot path's ids are its own strings.
    const hotId = (await callTool(hot.client, 'web__fixture_request_headers')).result?.structuredContent as {
      requestId: unknown;
      headers: Record<string, string>;
    };
    const sdkId = (await callTool(sdk.client, 'web__fixture_request_headers')).result?.structuredContent as {
      requestId: unknown;
    };
    expect(hotId.requestId).toMatch(/^warden-hot-/);
    expect(typeof sdkId.requestId).toBe('number');
    // The minted credential reached the server on both paths, and never the agent.
    for (const s of [hot, sdk]) {
      const received = readFileSync(s.leakFile, 'utf8').trim().split('\n');
      expect(received.length).toBe(2);
      for (const line of received)
        expect((JSON.parse(line) as { headers: { authorization: string } }).headers.authorization).toMatch(
          new RegExp(`^Bearer ${JWT.source}$`),
        );
    }
    expect(JSON.stringify(hotId.headers)).not.toMatch(JWT);

    const rows = async (s: Side) =>
      (
        JSON.parse(
          (await runCliAsync(s.gateway.configFile, ['audit', 'list', '--agent', 'agent:hot', '--json', '-n', '100']))
            .stdout,
        ) as {
          method: string;
          server: string | null;
          target: string | null;
          decision: string | null;
          outcome: string;
        }[]
      )
        .map((r) => `${r.method} ${r.server} ${r.target} ${r.decision} ${r.outcome}`)
        .sort();
    expect(await rows(hot)).toEqual(await rows(sdk));
    expect((await rows(hot)).length).toBe(CALLS.length + 1);
  });

  it('a hot answer is one JSON body; with log messages relayed during the call, an event stream in order', async () => {
    const post = (name: string) =>
      rawRequest(hot.gateway.origin, {
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: `raw-${name}`,
          method: 'tools/call',
          params: { name, arguments: {} },
        }),
        headers: mcpHeaders({
          authorization: `Bearer ${hot.token}`,
          'mcp-session-id': (hot.client.transport as StreamableHTTPClientTransport).sessionId!,
          'mcp-protocol-version':
            (hot.client.transport as StreamableHTTPClientTransport).protocolVersion ?? '2025-11-25',
        }),
      });
    const plain = await post('fx__test_simple_text');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('application/json');
    expect(plain.headers['content-length']).toBe(String(Buffer.byteLength(plain.text)));
    expect(JSON.parse(plain.text)).toEqual({
      jsonrpc: '2.0',
      id: 'raw-fx__test_simple_text',
      result: (await callTool(sdk.client, 'fx__test_simple_text')).result,
    });
    const logged = await post('fx__test_tool_with_logging');
    expect(logged.headers['content-type']).toBe('text/event-stream');
    const messages = logged.messages as { method?: string; id?: string; params?: { data?: unknown } }[];
    expect(messages.map((m) => m.method ?? m.id)).toEqual([
      'notifications/message',
      'notifications/message',
      'notifications/message',
      'raw-fx__test_tool_with_logging',
    ]);
    expect(messages.slice(0, 3).map((m) => m.params?.data)).toEqual([
      'Tool execution started',
      'Tool processing data',
      'Tool execution completed',
    ]);
  });

  it('progress falls back to the SDK path: every notification arrives before the result, as without the hot path', async () => {
    for (const name of ['fx__fixture_progress', 'web__fixture_progress']) {
      for (const s of [hot, sdk]) {
        const seen: number[] = [];
        const result = await s.client.callTool({ name, arguments: { steps: 5 } }, undefined, {
          onprogress: (p) => seen.push(p.progress),
        });
        expect(result.content, name).toEqual([{ type: 'text', text: 'sent 5 progress notifications' }]);
        expect(seen, name).toEqual([1, 2, 3, 4, 5]);
      }
    }
  });

  it('a cancelled hot call is cancelled downstream and recorded as cancelled', async () => {
    const controller = new AbortController();
    const pending = hot.client.callTool({ name: 'web__fixture_sleep', arguments: { ms: 60_000 } }, undefined, {
      signal: controller.signal,
    });
    // The call reaches the server before it is cancelled: wait for its intent row.
    for (;;) {
      const listed = JSON.parse(
        (await runCliAsync(hot.gateway.configFile, ['audit', 'list', '--tool', 'web__fixture_sleep', '--json'])).stdout,
      ) as unknown[];
      if (listed.length > 0) break;
    }
    controller.abort();
    await expect(pending).rejects.toThrow();
    for (;;) {
      const last = await callTool(hot.client, 'web__fixture_last_cancelled');
      if ((last.result?.structuredContent as { cancelled: boolean }).cancelled) break;
    }
    const [row] = JSON.parse(
      (await runCliAsync(hot.gateway.configFile, ['audit', 'list', '--tool', 'web__fixture_sleep', '--json'])).stdout,
    ) as { outcome: string }[];
    expect(row?.outcome).toBe('cancelled');
  });

  it('2026-07-28 requests (their own path, not the hot one) get the same answers on both gateways', async () => {
    const envelope = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
      'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1' },
    };
    const post = (s: Side, name: string) =>
      rawRequest(s.gateway.origin, {
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 9,
          method: 'tools/call',
          params: { name, arguments: {}, _meta: envelope },
        }),
        headers: mcpHeaders({
          authorization: `Bearer ${s.token}`,
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': name,
        }),
      });
    for (const name of ['fx__test_simple_text', 'web__fixture_request_headers', 'fx__fixture_pid']) {
      const [a, b] = [await post(hot, name), await post(sdk, name)];
      expect(a.status).toBe(b.status);
      const norm = (m: unknown) =>
        comparable({ ok: true, result: m as Record<string, unknown> }).result as { result?: unknown };
      expect(norm(a.messages[0]), name).toEqual(norm(b.messages[0]));
    }
  });
});
