import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { ProtocolEra } from '../model/protocol-era.js';
import type { DownstreamClient } from './modern-client.js';
import { sharedSchemaValidator } from './schema-validator.js';

const CLIENT_INFO = { name: 'mcp-warden', version: '0.1.0' };

/**
 * A client for a server spoken to in `era`: the v1 SDK client for 2025, `ModernClient` for 2026-07-28.
 * The v2 client (and the SDK v2 it needs) is imported only when a 2026-era server is connected.
 */
export async function newDownstreamClient(
  era: ProtocolEra,
  capabilities: ClientCapabilities,
): Promise<DownstreamClient> {
  if (era === '2026') {
    const { ModernClient } = await import('./modern-client.js');
    return new ModernClient(CLIENT_INFO, capabilities).asDownstreamClient();
  }
  return new Client(CLIENT_INFO, { capabilities, listChanged: undefined, jsonSchemaValidator: sharedSchemaValidator });
}

/** What a `protocol: auto` server was found to speak; `era` is cleared when the server goes away, so its next connect probes again. */
export interface EraVerdict {
  era: ProtocolEra | undefined;
}

interface ConnectOptions {
  protocol?: 'auto' | '2025-11-25' | '2026-07-28';
  verdict?: EraVerdict;
  capabilities: ClientCapabilities;
  connectTimeoutMs: number;
  makeTransport: (era: ProtocolEra) => Promise<Transport>;
}

/** A `protocol: auto` server that failed or went away may come back as another build: its next connect probes again. */
export function forgetEra(options: ConnectOptions): void {
  if (options.protocol === 'auto' && options.verdict) options.verdict.era = undefined;
}

/**
 * A connected client for the server, with `install` run on it before it connects. A server at
 * `2026-07-28` gets `ModernClient`, one at `2025-11-25` the v1 client, an `auto` one the client of its
 * verdict's era. With no verdict yet (never probed, or gone away since) the v2 client sends
 * `server/discover` and falls back to `initialize` on the same transport when the answer is not a
 * definitive 2026 one (over stdio, silence for half the connect timeout counts as 2025, and
 * `initialize` gets the other half, so a silent server costs one connect timeout as before). The era
 * found becomes the verdict, so later connections get the client of that era. A 2026 answer keeps the
 * probing client. A 2025 one does not: that client is closed before it lists anything and the
 * connection is made again with the v1 client (a new HTTP session, or a second spawn over stdio), so a
 * 2025 server is only ever listed and called through the v1 client. A 2025 list once parsed by the v2
 * client made every later session of the process cost about twice the memory (docs/performance.md,
 * "The probe's memory regression"); a reconnect costs once per verdict.
 */
export async function connectDownstream(
  options: ConnectOptions,
  log: Logger,
  install: (client: DownstreamClient) => void,
): Promise<DownstreamClient> {
  const auto = options.protocol === 'auto' ? options.verdict : undefined;
  const era: ProtocolEra | undefined = options.protocol === '2026-07-28' ? '2026' : auto ? auto.era : '2025';
  let client: DownstreamClient;
  let timeoutMs = options.connectTimeoutMs;
  let probe: { era: ProtocolEra | undefined } | undefined;
  if (era === undefined) {
    timeoutMs = Math.ceil(timeoutMs / 2);
    const { ModernClient } = await import('./modern-client.js');
    probe = new ModernClient(CLIENT_INFO, options.capabilities, { probeTimeoutMs: timeoutMs });
    client = (probe as InstanceType<typeof ModernClient>).asDownstreamClient();
  } else client = await newDownstreamClient(era, options.capabilities);
  await connectWith(client, install, () => options.makeTransport(era ?? '2026'), timeoutMs);
  if (!probe || !auto) return client;
  auto.era = probe.era === '2026' ? '2026' : '2025';
  log.info({ era: auto.era }, 'protocol: auto probed the server');
  if (auto.era === '2026') return client;
  await client.close().catch(() => undefined);
  const plain = await newDownstreamClient('2025', options.capabilities);
  await connectWith(plain, install, () => options.makeTransport('2025'), options.connectTimeoutMs);
  return plain;
}

async function connectWith(
  client: DownstreamClient,
  install: (client: DownstreamClient) => void,
  makeTransport: () => Promise<Transport>,
  timeoutMs: number,
): Promise<void> {
  install(client);
  try {
    await client.connect(await makeTransport(), { timeout: timeoutMs });
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
}
