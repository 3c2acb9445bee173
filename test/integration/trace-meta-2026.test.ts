// W3C trace context in a 2026 agent's `_meta` (issue 18): a raw 2026 request → the real gateway process
// (JWT, policy, audit) → a 2026-only downstream (modern-server, `echo_meta`) and a 2025 one (the
// conformance fixture, `fixture_request_headers`), each echoing the `_meta` it was called with.
// Well-formed `traceparent`, `tracestate` and `baggage` reach both and the audit keeps the trace id; a
// malformed one is dropped, never forwarded, and the call still succeeds.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, fixtureServer, type RunningGateway } from '../helpers/gateway.js';
import { issueTokenAsync, runCliAsync } from '../helpers/cli.js';
import { envelope, post2026, rpcOf } from '../helpers/stateless-2026.js';
import { startJwtGateway } from '../helpers/stateless-2026.js';

const MODERN = join(ROOT, 'dist/test/fixtures/modern-server.js');
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: echo-meta, effect: allow, tools: [m__echo_meta, fx__fixture_request_headers] }
`;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const GOOD = {
  traceparent: `00-${TRACE}-00f067aa0ba902b7-01`,
  tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
  baggage: 'userId=alice,serverNode=DF%2028;prop=1',
};
/** One malformed value of each: a traceparent with a short span id, 33 tracestate members, baggage over 8192 characters. */
const BAD = {
  traceparent: `00-${TRACE}-00f067aa0ba902-01`,
  tracestate: Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','),
  baggage: `big=${'x'.repeat(8200)}`,
};

describe('W3C trace context in a 2026 request reaches the downstream and the audit', () => {
  let gw: RunningGateway;
  let token: string;

  beforeAll(async () => {
    gw = await startJwtGateway(POLICY, {
      servers: {
        fx: fixtureServer(),
        m: { transport: 'stdio', command: 'node', args: [MODERN, '--stdio'], protocol: '2026-07-28' },
      },
    });
    token = await issueTokenAsync(gw.configFile, ['--sub', 'agent:tracer']);
  });

  afterAll(async () => {
    await gw?.stop();
  });

  /**
   * Calls `name` with `trace` in the request's `_meta` and `headers` as HTTP headers; the downstream's
   * `_meta` as it echoed it.
   */
  async function metaSeen(
    name: string,
    trace: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Record<string, unknown>> {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 9,
      method: 'tools/call',
      params: { name, arguments: {}, _meta: envelope(undefined, trace) },
    });
    const res = await post2026(gw, token, body, { 'mcp-method': 'tools/call', 'mcp-name': name, ...headers });
    expect(res.status).toBe(200);
    const result = rpcOf(res).result as {
      content: { type: string; text: string }[];
      structuredContent?: { meta: Record<string, unknown> };
    };
    expect(result).toMatchObject({ resultType: 'complete' });
    return result.structuredContent?.meta ?? (JSON.parse(result.content[0]!.text) as Record<string, unknown>);
  }

  it('forwards well-formed traceparent, tracestate and baggage to a 2026 and a 2025 downstream; the audit keeps the trace id', async () => {
    for (const name of ['m__echo_meta', 'fx__fixture_request_headers']) {
      expect(await metaSeen(name, GOOD), name).toMatchObject(GOOD);
    }
    const listed = JSON.parse(
      (await runCliAsync(gw.configFile, ['audit', 'list', '--agent', 'agent:tracer', '--json'])).stdout,
    ) as { id: string }[];
    expect(listed.length).toBeGreaterThanOrEqual(2);
    for (const { id } of listed) {
      const shown = (await runCliAsync(gw.configFile, ['audit', 'show', id, '--json'])).stdout;
      expect(shown).toContain(TRACE);
    }
  });

  it('drops a malformed traceparent, tracestate or baggage and never fails the call', async () => {
    for (const name of ['m__echo_meta', 'fx__fixture_request_headers']) {
      const seen = await metaSeen(name, BAD);
      for (const key of ['traceparent', 'tracestate', 'baggage']) expect(seen[key], `${name} ${key}`).toBeUndefined();
      // a valid traceparent with a malformed tracestate: the traceparent travels, the tracestate does not
      const mixed = await metaSeen(name, {
        traceparent: GOOD.traceparent,
        tracestate: 'UPPER=case',
        baggage: 'no value',
      });
      expect(mixed.traceparent).toBe(GOOD.traceparent);
      expect(mixed.tracestate).toBeUndefined();
      expect(mixed.baggage).toBeUndefined();
    }
  });

  it('reads traceparent, tracestate and baggage sent only as HTTP headers, checks them the same way and forwards them', async () => {
    const before = (await records()).length;
    for (const name of ['m__echo_meta', 'fx__fixture_request_headers']) {
      expect(await metaSeen(name, {}, GOOD), name).toMatchObject(GOOD);
      // malformed headers are dropped as malformed _meta values are; the call still succeeds
      const bad = await metaSeen(name, {}, BAD);
      for (const key of ['traceparent', 'tracestate', 'baggage']) expect(bad[key], `${name} ${key}`).toBeUndefined();
      // _meta wins where it is valid: its traceparent (with its own tracestate, none here), the header's baggage
      const other = `00-${'1'.repeat(32)}-00f067aa0ba902b7-01`;
      const both = await metaSeen(name, { traceparent: other }, GOOD);
      expect(both.traceparent).toBe(other);
      expect(both.tracestate).toBeUndefined();
      expect(both.baggage).toBe(GOOD.baggage);
    }
    // the audit keeps the header's trace id, as it does the _meta's
    const added = (await records()).slice(0, (await records()).length - before);
    const shown = await Promise.all(
      added.map(async ({ id }) => (await runCliAsync(gw.configFile, ['audit', 'show', id, '--json'])).stdout),
    );
    expect(shown.filter((row) => row.includes(TRACE))).toHaveLength(2);
  });

  /** The gateway's records of agent:tracer, newest first. */
  async function records(): Promise<{ id: string }[]> {
    return JSON.parse(
      (await runCliAsync(gw.configFile, ['audit', 'list', '--agent', 'agent:tracer', '--json'])).stdout,
    ) as { id: string }[];
  }
});
