// The reviewer console links a call to its trace: a real `serve` gateway with its console, a real SDK
// client sending a W3C traceparent, and the console's JSON API over raw HTTP after a real sign-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { consoleRequest, loginCode, signIn, startConsoleGateway, type ConsoleGateway } from '../console/helpers.js';
import { connectHttp } from '../helpers/gateway.js';

const TRACE = '5bf92f3577b34da6a3ce929d0e0e4736';

describe('console trace links', () => {
  let warden: ConsoleGateway;

  beforeAll(async () => {
    warden = await startConsoleGateway({
      config: { console: { enabled: true, port: 0, traceUrl: 'https://traces.example/trace/{traceId}?from=warden' } },
    });
  });

  afterAll(async () => {
    await warden?.stop();
  });

  it("gives a call page the tracing UI's URL for the call's trace id (console.traceUrl)", async () => {
    const { client } = await connectHttp(warden.gateway.url);
    await client.callTool({
      name: 'fx__test_simple_text',
      arguments: {},
      _meta: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` },
    });
    await client.close();
    const alice = await signIn(warden.origin, loginCode(warden.gateway.configFile, 'alice'));
    const found = await consoleRequest(warden.origin, { path: `/api/search?q=${TRACE}`, cookie: alice.cookie });
    expect(found.status, found.text).toBe(200);
    const ids = found.json.ids as string[];
    expect(ids).toHaveLength(1);
    const call = await consoleRequest(warden.origin, { path: `/api/calls/${ids[0]}`, cookie: alice.cookie });
    expect(call.status, call.text).toBe(200);
    expect(call.json.traceUrl).toBe(`https://traces.example/trace/${TRACE}?from=warden`);
  });

  it('refuses a traceUrl that is not an http(s) URL with {traceId}', () => {
    for (const traceUrl of ['https://traces.example/trace/', 'javascript:alert(1)//{traceId}', 'ftp://x/{traceId}']) {
      expect(ConfigSchema.safeParse({ version: 1, console: { traceUrl }, servers: {} }).success, traceUrl).toBe(false);
    }
    expect(
      ConfigSchema.safeParse({
        version: 1,
        console: { traceUrl: 'http://127.0.0.1:16686/trace/{traceId}' },
        servers: {},
      }).success,
    ).toBe(true);
  });
});
