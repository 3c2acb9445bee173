// `protocol: auto` (the default) end to end: servers registered with no `protocol` are probed once
// with `server/discover`, fall back to `initialize`, and are spoken to in the era found; a 2026-only
// server works with the default config, a 2025 server is probed once and then connected as before,
// and a server that went away is probed again when it comes back.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  connectHttp,
  fixtureServer,
  launchedFixtureServer,
  ROOT,
  startGateway,
  type RunningGateway,
} from '../helpers/gateway.js';

const MODERN = join(ROOT, 'dist/test/fixtures/modern-server.js');
const PROBED = 'protocol: auto probed the server';

interface Probe {
  server: string;
  era: string;
}

describe('protocol: auto downstreams', () => {
  let gw: RunningGateway;
  let client: Client;
  const probes: Probe[] = [];
  const waiters: (() => void)[] = [];

  /** Resolves once the gateway has logged `count` probes of `server` (each line is an event, not a poll). */
  function probed(server: string, count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): boolean => probes.filter((p) => p.server === server).length >= count;
      if (check()) return resolve();
      waiters.push(() => check() && resolve());
    });
  }

  beforeAll(async () => {
    gw = await startGateway({
      servers: {
        m: { transport: 'stdio', command: 'node', args: [MODERN, '--stdio'] },
        mh: { transport: 'http', url: 'http://127.0.0.1:0/mcp', launch: { command: 'node', args: [MODERN, '--http'] } },
        c: fixtureServer(),
        ch: launchedFixtureServer(),
      },
    });
    // Lines written before the ready line are in stderr(); later ones arrive as data events.
    const parse = (text: string): void => {
      for (const line of text.split('\n')) {
        if (!line.includes(PROBED)) continue;
        const entry = JSON.parse(line) as Probe;
        probes.push({ server: entry.server, era: entry.era });
      }
      for (const wake of waiters) wake();
    };
    parse(gw.process.stderr());
    let partial = '';
    gw.process.child.stderr.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const end = text.lastIndexOf('\n');
      partial = text.slice(end + 1);
      if (end >= 0) parse(text.slice(0, end));
    });
    client = (await connectHttp(gw.url)).client;
  });

  afterAll(async () => {
    await client?.close();
    await gw?.stop();
  });

  it('probes every server once at start-up and finds its era', () => {
    const eras = Object.fromEntries(probes.map((p) => [p.server, p.era]));
    expect(eras).toEqual({ m: '2026', mh: '2026', c: '2025', ch: '2025' });
    expect(probes).toHaveLength(4);
  });

  it('serves 2026-only servers registered with the default config, and 2025 servers as before', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(['m__echo', 'mh__add', 'c__test_simple_text', 'ch__test_simple_text']),
    );
    const echo = await client.callTool({ name: 'm__echo', arguments: { text: 'over stdio, 2026' } });
    expect(echo.content).toEqual([{ type: 'text', text: 'over stdio, 2026' }]);
    const sum = await client.callTool({ name: 'mh__add', arguments: { a: 2, b: 3 } });
    expect(sum.content).toEqual([{ type: 'text', text: '5' }]);
    for (const name of ['c__test_simple_text', 'ch__test_simple_text']) {
      const result = await client.callTool({ name, arguments: {} });
      expect(result.isError).not.toBe(true);
    }
    // The session's own connections used the verdicts: no server was probed again.
    expect(probes).toHaveLength(4);
  });

  it('probes a server again after it went away, and keeps serving it', async () => {
    const crashed = await client.callTool({ name: 'c__fixture_crash', arguments: {} }).catch((e: Error) => e);
    expect(crashed).toBeDefined();
    await probed('c', 2);
    expect(probes.filter((p) => p.server === 'c').map((p) => p.era)).toEqual(['2025', '2025']);
    const result = await client.callTool({ name: 'c__test_simple_text', arguments: {} });
    expect(result.isError).not.toBe(true);
  });
});
