// A 2026-07-28 request for a method the 2026 path does not serve (removed, like a 2026 `initialize`, or
// not built) is answered 404/-32601 before the principal's pooled session exists: it opens no session
// and spawns no server. Spawns are counted by a preloaded module that appends a line to a file in every
// process of the fixture server; sessions are the gateway's own count at /healthz.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE, health, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeSpawnCounter, type SpawnCounter } from '../helpers/process.js';
import { request2026, rpcOf } from '../helpers/stateless-2026.js';

describe('2026-07-28: an unserved method is answered before any pool or downstream work', () => {
  let gw: RunningGateway;
  let spawns: SpawnCounter;

  const spawnCount = (): number => spawns.count();

  beforeAll(async () => {
    spawns = await makeSpawnCounter();
    gw = await startGateway({
      servers: {
        fx: { transport: 'stdio', command: 'node', args: ['--import', spawns.importArg, FIXTURE, '--stdio'] },
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await spawns?.cleanup();
  });

  it('answers initialize, ping, logging/setLevel and an unknown method 404/-32601 with no session and no spawn', async () => {
    // The start-up probe has spawned the server once and closed it; a served request then spawns it again.
    const before = spawnCount();
    for (const [method, params] of [
      ['initialize', { protocolVersion: '2026-07-28', capabilities: {}, clientInfo: { name: 'x', version: '1' } }],
      ['ping', {}],
      ['logging/setLevel', { level: 'debug' }],
      ['resources/subscribe', { uri: 'test://static-text' }],
      ['no/such-method', {}],
    ] as const) {
      const res = await request2026(gw, undefined, method, params);
      expect(res.status, method).toBe(404);
      expect(rpcOf(res), method).toMatchObject({ id: 5, error: { code: -32601 } });
    }
    expect((await health(gw)).sessions).toBe(0);
    expect(spawnCount()).toBe(before);
    // The control: a served method opens the principal's pooled session and connects its server.
    const listed = await request2026(gw, undefined, 'tools/list', {});
    expect(listed.status).toBe(200);
    expect((await health(gw)).sessions).toBe(1);
    expect(spawnCount()).toBeGreaterThan(before);
  });
});
