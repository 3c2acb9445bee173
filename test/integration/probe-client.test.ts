// Which client a `protocol: auto` connection ends up with after its probe (src/downstream/client.ts,
// connectDownstream). A 2025 server must be listed and called through the v1 client on the probing
// connection too: a 2025 list parsed once by the v2 client made every later session cost about twice
// the memory (docs/performance.md, "The probe's memory regression"). Memory itself is measured by the
// bench; this checks the cause is gone. A 2026 server keeps the probing (v2) client.
import { join } from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ServerSchema, type ServerConfig } from '../../src/config/schema.js';
import type { EraVerdict } from '../../src/downstream/client.js';
import type { ProtocolEra } from '../../src/model/protocol-era.js';
import { DownstreamConnection } from '../../src/downstream/connection.js';
import { createClientTransport } from '../../src/downstream/transport.js';
import { FIXTURE, ROOT, startFixtureHttp } from '../helpers/gateway.js';
import { makeTempDir, type ReadyProcess } from '../helpers/process.js';

const MODERN = join(ROOT, 'dist/test/fixtures/modern-server.js');
const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');
const logger = pino({ level: 'silent' });

/** Transports made per era: a stdio probe must not spawn the server a second time. */
type Made = ProtocolEra[];

function autoConnection(
  spec: Record<string, unknown>,
  verdict: EraVerdict,
  made: Made = [],
  options: { logger?: Logger; connectTimeoutMs?: number } = {},
): DownstreamConnection {
  const server: ServerConfig = ServerSchema.parse(spec);
  return new DownstreamConnection({
    serverId: 'probed',
    logger: options.logger ?? logger,
    capabilities: {},
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    protocol: 'auto',
    verdict,
    makeTransport: (era) => {
      made.push(era);
      return createClientTransport('probed', server, ROOT, logger, { redact: (text) => text }, era);
    },
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

  // Over stdio the probed pipe is handed to the v1 client (one spawn); over HTTP the v1 client opens its own session.
  for (const [name, spec, transports] of [
    ['stdio', { transport: 'stdio', command: 'node', args: [FIXTURE, '--stdio'] }, ['2026']],
    ['HTTP', () => ({ transport: 'http', url: http.url }), ['2026', '2025']],
  ] as const) {
    it(`a 2025 server over ${name}: the probing connection lists and calls through the v1 client`, async () => {
      const verdict: EraVerdict = { era: undefined };
      const made: Made = [];
      const connection = autoConnection(typeof spec === 'function' ? spec() : spec, verdict, made);
      open.push(connection);
      const client = await connection.ready();
      expect(verdict.era).toBe('2025');
      expect(client).toBeInstanceOf(Client);
      expect(made).toEqual(transports);
      expect(connection.catalog.tools.length).toBeGreaterThan(0);
      const listed = await client.listTools();
      expect(listed.tools.map((tool) => tool.name)).toEqual(connection.catalog.tools.map((tool) => tool.name));
    });
  }

  it('a stdio server silent to server/discover is 2025 after half the connect timeout, on the same pipe', async () => {
    const dir = await makeTempDir('warden-silent-probe');
    const stuck = join(dir.path, 'stuck');
    writeFileSync(stuck, '');
    let probed = (): void => undefined;
    const verdictLogged = new Promise<void>((resolve) => (probed = resolve));
    const watching = pino(
      { level: 'info' },
      { write: (line: string) => line.includes('probed the server') && probed() },
    );
    const verdict: EraVerdict = { era: undefined };
    const made: Made = [];
    const spec = { transport: 'stdio', command: 'node', args: [FAULTY, '--stuck-while', stuck] };
    const connection = autoConnection(spec, verdict, made, { logger: watching, connectTimeoutMs: 6_000 });
    open.push(connection);
    try {
      const ready = connection.ready();
      // A connect that fails before any verdict (the initialize timed out) fails the test at once.
      await Promise.race([verdictLogged, ready]);
      // The server now reads what was written meanwhile: the probe, then the v1 client's initialize.
      rmSync(stuck);
      expect(await ready).toBeInstanceOf(Client);
      expect(verdict.era).toBe('2025');
      expect(made).toEqual(['2026']);
      expect(connection.catalog.tools.map((tool) => tool.name)).toContain('echo');
    } finally {
      await dir.cleanup();
    }
  });

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
