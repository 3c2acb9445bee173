// A downstream on the deprecated HTTP+SSE transport, end to end: the real gateway in front of the
// fixture in its `--sse` mode, which refuses an event stream request without `Accept:
// text/event-stream` or without the header the config names. The gateway's own fetch (node:http,
// src/downstream/http-fetch.ts) carries both the event stream and the POSTed messages. One gateway serves
// the three cases side by side: the server with the header, the same server without it, and one it
// launches; the last test stops it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, FIXTURE, health, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { spawnReady, waitFor, waitForExit, type ReadyProcess } from '../helpers/process.js';

let fixture: ReadyProcess;
let gateway: RunningGateway;

beforeAll(async () => {
  fixture = await spawnReady(process.execPath, [FIXTURE, '--sse', '--port', '0'], {
    readyPattern: /^fixture listening on (http:\/\/\S+)$/,
    env: { PORT: undefined, MCP_WARDEN_SUPERVISED: undefined, FIXTURE_SSE_REQUIRE_HEADER: 'x-tenant=blue' },
  });
  gateway = await startGateway({
    servers: {
      legacy: { transport: 'sse', url: fixture.url, headers: { 'X-Tenant': 'blue' } },
      // the same server without the header it requires
      bare: { transport: 'sse', url: fixture.url },
      old: { transport: 'sse', url: 'http://127.0.0.1:0/sse', launch: { command: 'node', args: [FIXTURE, '--sse'] } },
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await fixture?.stop();
});

describe('HTTP+SSE downstream', () => {
  it('lists and calls through the event stream, with the configured header on the stream and on every message', async () => {
    const { client } = await connectHttp(gateway.url);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toContain('legacy__test_simple_text');
      const result = await client.callTool({ name: 'legacy__test_simple_text', arguments: {} });
      expect(result.isError).not.toBe(true);
      expect((result.content as { type: string; text: string }[])[0]?.type).toBe('text');
      const echoed = await client.callTool({ name: 'legacy__fixture_request_headers', arguments: {} });
      const headers = (echoed.structuredContent as { headers: Record<string, string> }).headers;
      expect(headers['x-tenant']).toBe('blue');
      expect(headers['user-agent']).toBe('mcp-warden');
    } finally {
      await client.close();
    }
  });

  it('a stream request the server refuses (no configured header) leaves the server out, not the gateway down', async () => {
    const status = await waitFor(async () => {
      const report = await health(gateway);
      return report.servers.bare && report.servers.bare.status !== 'ready' ? report : undefined;
    }, 'the server without the header reported not ready');
    expect(status.servers.bare!.status).not.toBe('ready');
    const { client } = await connectHttp(gateway.url);
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names).not.toContain('bare__test_simple_text');
      // the gateway still serves the others
      expect(names).toContain('legacy__test_simple_text');
    } finally {
      await client.close();
    }
  });
});

describe('a launched HTTP+SSE downstream', () => {
  it('is started on a free port, used over the event stream, and stopped with the gateway', async () => {
    let pid: number | undefined;
    try {
      const report = await health(gateway);
      expect(report.servers.old?.launch?.state).toBe('running');
      pid = report.servers.old?.launch?.pid;
      expect(pid).toBeGreaterThan(0);
      const { client } = await connectHttp(gateway.url);
      const result = await client.callTool({ name: 'old__fixture_pid', arguments: {} });
      expect((result.content as { type: string; text: string }[])[0]?.text).toBe(String(pid));
      await client.close();
    } finally {
      await gateway.stop();
    }
    await waitForExit(pid!);
  });
});
