// Starts the real gateway (bin/mcp-warden.js, compiled) as a child process with a config written to a
// temp dir, and connects real SDK clients to it over Streamable HTTP or stdio.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Client, type ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { makeTempDir, spawnReady, type ReadyProcess, type TempDir } from './process.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/mcp-warden.js');
export const FIXTURE = join(ROOT, 'dist/test/fixtures/conformance-server.js');
export const NOTES = join(ROOT, 'dist/servers/notes/main.js');
export const TICKETS = join(ROOT, 'dist/servers/tickets/main.js');

/** A stdio server entry for the conformance fixture (which also has the fixture_* test aids). */
export function fixtureServer(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { transport: 'stdio', command: 'node', args: [FIXTURE, '--stdio'], ...extra };
}

/** A `transport: http` entry the gateway launches and supervises: the fixture in --http mode on a free port. */
export function launchedFixtureServer(
  extra: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Record<string, unknown> {
  return {
    transport: 'http',
    url: 'http://127.0.0.1:0/mcp',
    launch: { command: 'node', args: [FIXTURE, '--http'], env },
    ...extra,
  };
}

export const FIXTURE_READY = /^fixture listening on (http:\/\/\S+)$/;

/** Starts the fixture in --http mode on a free port (not supervised by any gateway); `url` is its /mcp endpoint. */
export function startFixtureHttp(env: Record<string, string | undefined> = {}): Promise<ReadyProcess> {
  return spawnReady(process.execPath, [FIXTURE, '--http', '--port', '0'], {
    readyPattern: FIXTURE_READY,
    env: { PORT: undefined, MCP_WARDEN_SUPERVISED: undefined, ...env },
  });
}

/**
 * One launched HTTP fixture for a whole test file: started before its tests, stopped after them.
 * `url()` is its endpoint once started (a gateway config's `servers` entry reads it when it is written).
 */
export function useFixtureHttp(): { url: () => string } {
  let fixture: ReadyProcess | undefined;
  beforeAll(async () => {
    fixture = await startFixtureHttp();
  });
  afterAll(async () => {
    await fixture?.stop();
  });
  return { url: () => fixture!.url! };
}

export interface GatewayConfigInput {
  servers: Record<string, unknown>;
  gateway?: Record<string, unknown>;
  auth?: Record<string, unknown> | null;
  [key: string]: unknown;
}

/** Writes a config (with the local development principal unless `auth: null`) into a fresh temp dir. */
export async function writeConfig(input: GatewayConfigInput): Promise<{ dir: TempDir; file: string }> {
  const dir = await makeTempDir('warden-test');
  const { auth, ...rest } = input;
  const config = {
    version: 1,
    dataDir: './data',
    ...(auth !== null && { auth: auth ?? { mode: 'unauthenticated-local', subject: 'test-agent' } }),
    ...rest,
  };
  const file = join(dir.path, 'mcp.config.json');
  await writeFile(file, JSON.stringify(config, null, 2));
  return { dir, file };
}

export interface RunningGateway {
  process: ReadyProcess;
  /** http://127.0.0.1:PORT/mcp */
  url: string;
  origin: string;
  dir: TempDir;
  configFile: string;
  stop(): Promise<void>;
}

/** Starts `mcp-warden serve --port 0` and waits for its ready line; `env` is added to the gateway's environment. */
export async function startGateway(
  input: GatewayConfigInput,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<RunningGateway> {
  const { dir, file } = await writeConfig(input);
  const proc = await spawnReady(process.execPath, [BIN, 'serve', '--config', file, '--port', '0', ...extraArgs], {
    readyPattern: /^mcp-warden listening on (http:\/\/\S+)$/,
    env: { MCP_WARDEN_LOG_LEVEL: process.env.MCP_WARDEN_LOG_LEVEL ?? 'info', ...env },
  });
  const url = proc.url!;
  return {
    process: proc,
    url,
    origin: new URL(url).origin,
    dir,
    configFile: file,
    async stop() {
      await proc.stop();
      await dir.cleanup();
    },
  };
}

/** GET /healthz of a running `serve` gateway. */
export async function health(gateway: RunningGateway): Promise<{
  status: string;
  sessions: number;
  servers: Record<string, { status: string; launch?: { state: string; pid?: number } }>;
}> {
  const response = await fetch(`${gateway.origin}/healthz`);
  return (await response.json()) as Awaited<ReturnType<typeof health>>;
}

export async function connectHttp(
  url: string,
  options: ClientOptions = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'warden-test', version: '1.0.0' }, options);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport };
}

/** Spawns `mcp-warden stdio` as a real child process, the way Claude Desktop does. */
export async function connectStdio(
  configFile: string,
  options: ClientOptions = {},
): Promise<{ client: Client; transport: StdioClientTransport }> {
  const client = new Client({ name: 'warden-test', version: '1.0.0' }, options);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'stdio', '--config', configFile],
    stderr: 'pipe',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
  });
  await client.connect(transport);
  return { client, transport };
}
