// A server stuck in `initialize` must not delay anything else: its circuit breaker opens after the
// start-up connect times out, new sessions never wait on it, /healthz and the metrics show the breaker, and a probe in
// the background closes it again once the server answers (the agent is told the lists changed).
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, pidOf, recordNotifications, textOf } from '../helpers/agent.js';
import { ROOT, connectHttp, fixtureServer, health, startGateway } from '../helpers/gateway.js';
import { makeTempDir, waitFor } from '../helpers/process.js';
import { parseMetrics, sumOf, valueOf } from '../observe/prometheus.js';

const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');
/** Long enough that waiting it out even once is unmistakable; the start-up probe waits it out once. */
const CONNECT_TIMEOUT_MS = 8_000;

interface BreakerHealth {
  status: string;
  breaker: { state: string; failures: number; lastError?: string };
}

async function stuckHealth(gateway: Awaited<ReturnType<typeof startGateway>>): Promise<BreakerHealth> {
  return (await health(gateway)).servers.stuck as unknown as BreakerHealth;
}

describe('a server stuck in initialize', () => {
  it('opens its breaker; new sessions list and call the other server without waiting; a probe closes it once it answers', async () => {
    const temp = await makeTempDir('warden-stuck');
    const flag = join(temp.path, 'stuck.flag');
    await writeFile(flag, 'stuck');
    const gateway = await startGateway({
      servers: {
        fx: fixtureServer(),
        stuck: {
          transport: 'stdio',
          command: 'node',
          args: [FAULTY, '--stuck-while', flag],
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
        },
      },
      metrics: { enabled: true, port: 0 },
    });
    const metricsUrl = await waitFor(
      () => /mcp-warden metrics on (\S+)/.exec(gateway.process.stderr())?.[1],
      'the metrics URL on stderr',
    );
    const breakerMetrics = async () => {
      const samples = parseMetrics(await (await fetch(metricsUrl)).text());
      const state = (server: string, value: string) =>
        valueOf(samples, 'mcp_warden_circuit_breaker_state', { server, state: value });
      return {
        stuck: {
          closed: state('stuck', 'closed'),
          all: sumOf(samples, 'mcp_warden_circuit_breaker_state', { server: 'stuck' }),
        },
        fxClosed: state('fx', 'closed'),
      };
    };
    try {
      const atStart = await stuckHealth(gateway);
      expect(atStart.status).toBe('down');
      expect(['open', 'half-open']).toContain(atStart.breaker.state);
      expect(atStart.breaker.lastError).toMatch(/timed out/i);
      // Open or half-open (a probe may be under way), never closed while the server is stuck; one state at a time.
      expect(await breakerMetrics()).toEqual({ stuck: { closed: 0, all: 1 }, fxClosed: 1 });

      // Two new sessions, one after the other: neither waits for the stuck server's connect timeout.
      for (let i = 0; i < 2; i++) {
        const started = Date.now();
        const { client } = await connectHttp(gateway.url);
        const names = (await client.listTools()).tools.map((tool) => tool.name);
        expect(names).toContain('fx__fixture_pid');
        expect(await pidOf(client, 'fx')).toBeGreaterThan(0);
        expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT_MS);
        await client.close();
      }

      // The server answers again: the next probe closes the breaker and a listing session is told.
      const { client } = await connectHttp(gateway.url);
      const seen = recordNotifications(client);
      expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('stuck__echo');
      await rm(flag);
      await waitFor(
        async () => (await stuckHealth(gateway)).breaker.state === 'closed',
        'the breaker to close',
        90_000,
      );
      await waitFor(() => seen.some((n) => n.method === 'notifications/tools/list_changed'), 'tools list_changed');
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('stuck__echo');
      expect(textOf(await call(client, 'stuck__echo', { text: 'back' }))).toBe('back');
      expect((await stuckHealth(gateway)).status).toBe('up');
      expect(await breakerMetrics()).toEqual({ stuck: { closed: 1, all: 1 }, fxClosed: 1 });
      await client.close();
    } finally {
      await gateway.stop();
      await temp.cleanup();
    }
  });
});
