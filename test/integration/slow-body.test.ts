// A client that sends headers and then never finishes its body is cut off at gateway.bodyTimeoutMs.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectHttp, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/process.js';
import { mcpHeaders, rawRequest } from '../helpers/raw-http.js';

let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway({ gateway: { bodyTimeoutMs: 300 }, servers: { fx: fixtureServer() } });
});
afterAll(async () => gw?.stop());

it('closes a connection whose body does not arrive in time, and keeps serving others', async () => {
  const slow = rawRequest(gw.origin, { method: 'POST', headers: mcpHeaders(), declaredLength: 200 });
  await expect(slow).rejects.toThrow(/socket hang up|ECONNRESET/);
  await waitFor(() => gw.process.stderr().includes('request body not received in time'), 'the slow-body log line');
  const { client } = await connectHttp(gw.url);
  expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  await client.close();
});
