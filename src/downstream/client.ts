import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientCapabilities, JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { ProtocolEra } from '../model/protocol-era.js';
import type { DownstreamClient } from './modern-client.js';
import { sharedSchemaValidator } from './schema-validator.js';
import { GroupStdioTransport } from './stdio-transport.js';

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
  return v1Client(capabilities);
}

function v1Client(capabilities: ClientCapabilities): Client {
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
 * probing client. A 2025 one does not: a 2025 server is only ever listed and called through the v1
 * client, since a 2025 list once parsed by the v2 client made every later session of the process cost
 * about twice the memory (docs/performance.md, "The probe's memory regression"). Over stdio the v2
 * client's fallback `initialize` is held back and the pipe handed to the v1 client, which sends its
 * own (the wire sees what it saw before, one spawn); over HTTP the v2 client is closed after its
 * `initialize` and the v1 client opens a session of its own (one more `initialize` per verdict).
 */
export async function connectDownstream(
  options: ConnectOptions,
  log: Logger,
  install: (client: DownstreamClient) => void,
): Promise<DownstreamClient> {
  const auto = options.protocol === 'auto' ? options.verdict : undefined;
  const era: ProtocolEra | undefined = options.protocol === '2026-07-28' ? '2026' : auto ? auto.era : '2025';
  if (era === undefined && auto) return probeAndConnect(options, auto, log, install);
  const client = await newDownstreamClient(era ?? '2025', options.capabilities);
  install(client);
  await connectOrClose(client, await options.makeTransport(era ?? '2025'), options.connectTimeoutMs);
  return client;
}

async function probeAndConnect(
  options: ConnectOptions,
  verdict: EraVerdict,
  log: Logger,
  install: (client: DownstreamClient) => void,
): Promise<DownstreamClient> {
  const timeoutMs = Math.ceil(options.connectTimeoutMs / 2);
  const { ModernClient } = await import('./modern-client.js');
  const probe = new ModernClient(CLIENT_INFO, options.capabilities, { probeTimeoutMs: timeoutMs });
  const client = probe.asDownstreamClient();
  install(client);
  const transport = await options.makeTransport('2026');
  const pipe = transport instanceof GroupStdioTransport ? new ProbePipe(transport) : undefined;
  const connected = connectOrClose(client, pipe ?? transport, timeoutMs).then(() => true);
  connected.catch(() => undefined); // once the pipe is handed over, the v2 client's connect fails: expected
  const modern = await (pipe ? Promise.race([connected, pipe.fellBack.then(() => false)]) : connected);
  verdict.era = modern && probe.era === '2026' ? '2026' : '2025';
  log.info({ era: verdict.era }, 'protocol: auto probed the server');
  if (verdict.era === '2026') {
    pipe?.settle();
    return client;
  }
  const plain = v1Client(options.capabilities);
  if (pipe) {
    pipe.handOver();
    install(plain);
    void client.close().catch(() => undefined);
    await connectOrClose(plain, transport, timeoutMs);
    return plain;
  }
  await client.close().catch(() => undefined);
  install(plain);
  await connectOrClose(plain, await options.makeTransport('2025'), options.connectTimeoutMs);
  return plain;
}

async function connectOrClose(client: DownstreamClient, transport: Transport, timeoutMs: number): Promise<void> {
  try {
    await client.connect(transport, { timeout: timeoutMs });
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
}

/**
 * The v2 client's view of a stdio pipe while it probes: everything passes except its fallback
 * `initialize`, which is held back (`fellBack` resolves instead) so the v1 client can take the pipe
 * and send its own. Once handed over, the v2 client's close no longer reaches the pipe.
 */
class ProbePipe implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  readonly fellBack: Promise<void>;
  private fallBack: () => void = () => undefined;
  private state: 'probing' | 'settled' | 'handed over' = 'probing';

  constructor(private readonly pipe: GroupStdioTransport) {
    this.fellBack = new Promise((resolve) => (this.fallBack = resolve));
  }

  // What the v2 client looks for to treat the transport as stdio (silence counts as 2025).
  get stderr(): unknown {
    return this.pipe.stderr;
  }

  get pid(): number | undefined {
    return this.pipe.pid;
  }

  start(): Promise<void> {
    this.pipe.onmessage = (message) => this.onmessage?.(message);
    this.pipe.onerror = (error) => this.onerror?.(error);
    this.pipe.onclose = () => this.onclose?.();
    return this.pipe.start();
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.state === 'handed over') return Promise.reject(new Error('the pipe was handed to the 2025 client'));
    if (this.state === 'probing' && 'method' in message && message.method === 'initialize') {
      this.fallBack();
      return Promise.resolve();
    }
    return this.pipe.send(message);
  }

  /** A 2026 verdict: the v2 client keeps the pipe, nothing is held back any more. */
  settle(): void {
    this.state = 'settled';
  }

  handOver(): void {
    this.state = 'handed over';
    this.pipe.handOver();
  }

  async close(): Promise<void> {
    if (this.state !== 'handed over') return this.pipe.close();
    this.onclose?.();
  }
}
