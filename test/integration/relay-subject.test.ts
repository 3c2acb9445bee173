// A request a server sends towards the agent outside any call (here roots/list the moment the server is
// initialized, during the agent's first call, before that call has its principal) is recorded with the
// session's principal, over HTTP and stdio ingress. The fixture asks on the stdio pipe before it answers the
// gateway's first tools/list, so the request always arrives while the servers are still connecting.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  connectHttp,
  connectStdio,
  fixtureServer,
  startGateway,
  type RunningGateway,
} from '../helpers/gateway.js';
import { runToExit, waitFor } from '../helpers/process.js';

interface Row {
  method: string;
  subject: string | null;
  outcome: string;
}

let gateway: RunningGateway;

beforeAll(async () => {
  gateway = await startGateway({
    servers: { fx: fixtureServer({ env: { FIXTURE_ROOTS_ON_INIT: '1' } }) },
    auth: { mode: 'unauthenticated-local', subject: 'roots-owner' },
  });
});

afterAll(async () => {
  await gateway?.stop();
});

async function rootsRows(): Promise<Row[]> {
  const run = await runToExit(process.execPath, [
    BIN,
    '--config',
    gateway.configFile,
    'audit',
    'list',
    '--json',
    '-n',
    '100',
  ]);
  expect(run.stderr).toBe('');
  return (JSON.parse(run.stdout) as Row[]).filter((r) => r.method === 'roots/list');
}

function answered(client: Client): () => number {
  let asked = 0;
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    asked += 1;
    return { roots: [{ uri: 'file:///srv/roots', name: 'roots' }] };
  });
  return () => asked;
}

describe('roots/list relayed before the agent first lists or calls', () => {
  it.each(['http', 'stdio'] as const)('over %s ingress, is recorded with the session principal', async (ingress) => {
    const { client } =
      ingress === 'http'
        ? await connectHttp(gateway.url, { capabilities: { roots: {} } })
        : await connectStdio(gateway.configFile, { capabilities: { roots: {} } });
    try {
      const asked = answered(client);
      const before = (await rootsRows()).length;
      await client.callTool({ name: 'fx__fixture_pid', arguments: {} });
      await waitFor(() => asked() > 0, 'the relayed roots/list');
      const rows = await waitFor(async () => {
        const all = await rootsRows(); // newest first
        return all.length > before && all[0]!.outcome !== 'pending' ? all : undefined;
      }, 'the roots/list record');
      expect(rows[0]).toMatchObject({ method: 'roots/list', outcome: 'ok', subject: 'roots-owner' });
    } finally {
      await client.close();
    }
  });
});
