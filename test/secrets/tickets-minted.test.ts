// The demo flow of the default config: the gateway mints a credential per call for the bundled tickets
// server, which verifies it against the JWKS file the gateway publishes in its data folder.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startGateway, TICKETS, type RunningGateway } from '../helpers/gateway.js';

const AUDIENCE = 'urn:mcp-warden:tickets';

function tickets(audience: string): Record<string, unknown> {
  return {
    transport: 'http',
    url: 'http://127.0.0.1:0/mcp',
    launch: {
      command: 'node',
      args: [TICKETS, '--data', 'data/tickets.json'],
      // No TICKETS_JWKS_FILE: the gateway passes its published keys as MCP_WARDEN_JWKS_FILE.
      env: { TICKETS_AUDIENCE: audience, TICKETS_ISSUER: 'urn:mcp-warden:gateway' },
    },
    secrets: { headers: { Authorization: 'Bearer {{secret:tickets}}' } },
  };
}

describe('minted per-call credentials for the tickets demo', () => {
  let gateway: RunningGateway;
  let client: Client;

  beforeAll(async () => {
    gateway = await startGateway({
      secrets: { tickets: { source: 'minted', audience: AUDIENCE, ttlSeconds: 60 } },
      servers: { tickets: tickets(AUDIENCE) },
    });
    ({ client } = await connectHttp(gateway.url));
  });
  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
  });

  it('tickets verifies the minted token and records the agent as the author', async () => {
    const result = await client.callTool({
      name: 'tickets__create_ticket',
      arguments: { title: 'minted', body: '', priority: 'low' },
    });
    expect(result.isError).toBeFalsy();
    expect((result.structuredContent as { ticket: { createdBy: string } }).ticket.createdBy).toBe('test-agent');
    const jwks = JSON.parse(readFileSync(join(gateway.dir.path, 'data/keys/jwks.json'), 'utf8')) as { keys: unknown[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
  });
});

describe('a minted token for another audience', () => {
  it('is refused by tickets: the server is not usable through the gateway', async () => {
    const gateway = await startGateway({
      secrets: { tickets: { source: 'minted', audience: 'urn:someone-else', ttlSeconds: 60 } },
      servers: { tickets: tickets(AUDIENCE) },
    });
    try {
      const { client } = await connectHttp(gateway.url);
      const refused = await client
        .callTool({ name: 'tickets__create_ticket', arguments: { title: 'x', body: '', priority: 'low' } })
        .then(
          (r) => JSON.stringify(r),
          (e: Error) => e.message,
        );
      expect(refused).toMatch(/Unknown tool|unavailable|401|Unauthorized/i);
      await client.close();
    } finally {
      await gateway.stop();
    }
  });
});
