// Which client a `protocol: auto` connection ends up with after its probe (src/downstream/client.ts,
// connectDownstream). A 2025 server must be listed and called through the v1 client on the probing
// connection too: a 2025 list parsed once by the v2 client made every later session cost about twice
// the memory (docs/performance.md, "The probe's memory regression"). Memory itself is measured by the
// bench; this checks the cause is gone. A 2026 server keeps the probing (v2) client.
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ServerSchema, type ServerConfig } from '../../src/config/schema.js';
import type { EraVerdict } from '../../src/downstream/client.js';
import { DownstreamConnection } from '../../src/downstream/connection.js';
import { createClientTransport } from '../../src/downstream/transport.js';
import { FIXTURE, ROOT, startFixtureHttp } from '../helpers/gateway.js';
import type { ReadyProcess } from '../helpers/process.js';

const MODERN = join(ROOT, 'dist/test/fixtures/modern-server.js');
const logger = pino({ level: 'silent' });

function autoConnection(spec: Record<string, unknown>, verdict: EraVerdict): DownstreamConnection {
  const server: ServerConfig = ServerSchema.parse(spec);
  return new DownstreamConnection({
    serverId: 'probed',
    logger,
    capabilities: {},
    connectTimeoutMs: 10_000,
    protocol: 'auto',
    verdict,
    makeTransport: (era) => createClientTransport('probed', server, ROOT, logger, { redact: (text) => text }, era),
  });
}

describe('the client a protocol: auto connection keeps after its probe', () => {
  let http: ReadyProcess;
  const open: DownstreamConnection[] = [];

  beforeAll(async () => {
    http = await startFixtureHttp();
  }, 30_000);

  afterAll(async () => {
    await Promise.all(open.map((connection) => connection.close()));
    await http?.stop();
  });

  for (const [name, spec] of [
    ['stdio', { transport: 'stdio', command: 'node', args: [FIXTURE, '--stdio'] }],
    ['HTTP', () => ({ transport: 'http', url: http.url })],
  ] as const) {
    it(`a 2025 server over ${name}: the probing connection lists and calls through the v1 client`, async () => {
      const verdict: EraVerdict = { era: undefined };
      const connection = autoConnection(typeof spec === 'function' ? spec() : spec, verdict);
      open.push(connection);
      const client = await connection.ready();
      expect(verdict.era).toBe('2025');
      expect(client).toBeInstanceOf(Client);
      expect(connection.catalog.tools.length).toBeGreaterThan(0);
      const listed = await client.listTools();
      expect(listed.tools.map((tool) => tool.name)).toEqual(connection.catalog.tools.map((tool) => tool.name));
    });
  }

  it('a 2026 server keeps the probing v2 client', async () => {
    const verdict: EraVerdict = { era: undefined };
    const connection = autoConnection({ transport: 'stdio', command: 'node', args: [MODERN, '--stdio'] }, verdict);
    open.push(connection);
    const client = await connection.ready();
    expect(verdict.era).toBe('2026');
    expect(client).not.toBeInstanceOf(Client);
    expect(connection.catalog.tools.map((tool) => tool.name)).toContain('echo');
  });
});
