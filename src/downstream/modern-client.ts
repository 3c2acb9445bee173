import {
  CLIENT_CAPABILITIES_META_KEY,
  Client as V2Client,
  LOG_LEVEL_META_KEY,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  StreamableHTTPClientTransport as ModernHttpTransport,
  type Transport as V2Transport,
} from '@modelcontextprotocol/client';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, type ClientCapabilities, type LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import { mirroredHeaders, paramHeaders, type ParamHeader } from '../model/param-headers.js';
import type { RequestEnvelope } from '../model/request-envelope.js';
import { ModernListen } from './modern-listen.js';

/** The protocol revision a 2026-era downstream is spoken to at. */
export const MODERN_VERSION = '2026-07-28';

/**
 * The SDK v2 HTTP transport for a 2026-era server; it sets the 2026 headers from each message. It has
 * the v1 transport's members; only the v2 client (`ModernClient`) drives it.
 */
export function modernHttpTransport(
  url: URL,
  options: { requestInit: RequestInit; fetch: (url: string | URL, init?: RequestInit) => Promise<Response> },
): Transport {
  return new ModernHttpTransport(url, options) as unknown as Transport;
}

/**
 * What a downstream connection (connection.ts) and the forwarder (forward.ts) use of an MCP client: the
 * v1 SDK client's own members, so that client is one implementation and `ModernClient` the other.
 */
export type DownstreamClient = Pick<
  Client,
  | 'connect'
  | 'close'
  | 'getInstructions'
  | 'getServerCapabilities'
  | 'setLoggingLevel'
  | 'listTools'
  | 'listPrompts'
  | 'listResources'
  | 'listResourceTemplates'
  | 'setNotificationHandler'
  | 'setRequestHandler'
  | 'ping'
  | 'sendRootsListChanged'
  | 'request'
  | 'transport'
  | 'onerror'
  | 'onclose'
>;

/** `inputKey`: for a 2026 server, the request's key in the server's `inputRequests` (the v2 client's id for it). */
type Handler = (
  message: { method: string; params?: unknown },
  extra: { signal: AbortSignal; inputKey?: string },
) => unknown;

/** A v1 message schema (zod object with a literal `method`) names the method it is for. */
function methodOf(schema: unknown): string {
  const method = (schema as { shape?: { method?: { value?: unknown } } }).shape?.method?.value;
  if (typeof method !== 'string') throw new TypeError('a message schema without a literal method');
  return method;
}

/**
 * The v2 SDK client behind the v1 client's surface, for servers spoken to at 2026-07-28 (stateless):
 * every request gets the `_meta` envelope (protocol version, client info, exactly the capabilities
 * given here) and, over HTTP, the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers and the
 * `Mcp-Param-*` mirrors of `x-mcp-header` arguments, all done by the v2 client and its HTTP transport.
 * A server's `input_required` answer is fulfilled through the request handlers registered here (the
 * same relays to the agent a 2025 server's own requests use) and the call retried, so callers above
 * see one request and one result, as with a 2025 server. Errors are turned into the v1 `McpError`
 * codes forward.ts classifies.
 */
export class ModernClient {
  private readonly client: V2Client;
  private logLevel: LoggingLevel | undefined;
  /** Each listed tool's `x-mcp-header` arguments, by the server's tool name: mirrored on its calls. */
  private readonly mirrors = new Map<string, readonly ParamHeader[]>();
  /** How a 2026 server's list_changed and resources/updated reach us (modern-listen.ts). */
  private readonly listen: ModernListen;

  /**
   * `pin`: a server registered at 2026-07-28, spoken to at exactly that revision. A probe: a server
   * registered with `protocol: auto` whose era is not known yet: `server/discover` first, `initialize`
   * when that gives no definitive 2026 answer (`era` tells which it was once connected).
   */
  constructor(
    info: { name: string; version: string },
    capabilities: ClientCapabilities,
    mode: 'pin' | { probeTimeoutMs: number } = 'pin',
  ) {
    this.client = new V2Client(info, {
      capabilities: capabilities as never,
      versionNegotiation:
        mode === 'pin'
          ? { mode: { pin: MODERN_VERSION } }
          : { mode: 'auto', probe: { timeoutMs: mode.probeTimeoutMs } },
      // Lists are re-fetched when the gateway decides (list_changed, a routing miss); never from a cache.
      defaultCacheTtlMs: 0,
    });
    this.listen = new ModernListen(this.client);
  }

  /** The v1 surface connection.ts and forward.ts are written against. */
  asDownstreamClient(): DownstreamClient {
    return this as unknown as DownstreamClient;
  }

  /** The era the connect settled on: 2026 after a definitive `server/discover` answer, else 2025. */
  get era(): '2025' | '2026' | undefined {
    const era = this.client.getProtocolEra();
    return era === undefined ? undefined : era === 'modern' ? '2026' : '2025';
  }

  get transport(): unknown {
    return this.client.transport;
  }

  set onerror(handler: ((error: Error) => void) | undefined) {
    this.client.onerror = handler;
  }

  get onerror(): ((error: Error) => void) | undefined {
    return this.client.onerror;
  }

  set onclose(handler: (() => void) | undefined) {
    this.client.onclose = handler;
  }

  get onclose(): (() => void) | undefined {
    return this.client.onclose;
  }

  async connect(transport: Transport, options?: { timeout?: number }): Promise<void> {
    await translate(() => this.client.connect(transport as unknown as V2Transport, options));
    // Not awaited: the lists are read now anyway; a server that never acknowledges only goes unheard.
    if (this.era === '2026') void this.listen.open().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.listen.close();
    return this.client.close();
  }

  getInstructions(): string | undefined {
    return this.client.getInstructions();
  }

  getServerCapabilities(): ReturnType<Client['getServerCapabilities']> {
    return this.client.getServerCapabilities() as ReturnType<Client['getServerCapabilities']>;
  }

  /** 2026 has no `logging/setLevel`: the level travels in each request's `_meta` instead (a probe that found 2025 sends it). */
  async setLoggingLevel(level: LoggingLevel): Promise<Record<string, never>> {
    if (this.era === '2025') {
      await translate(() => this.client.setLoggingLevel(level));
      return {};
    }
    this.logLevel = level;
    return {};
  }

  listTools(params?: { cursor?: string }): Promise<unknown> {
    return this.list('tools/list', params);
  }

  listPrompts(params?: { cursor?: string }): Promise<unknown> {
    return this.list('prompts/list', params);
  }

  listResources(params?: { cursor?: string }): Promise<unknown> {
    return this.list('resources/list', params);
  }

  listResourceTemplates(params?: { cursor?: string }): Promise<unknown> {
    return this.list('resources/templates/list', params);
  }

  /** One page, as asked (paging.ts walks the cursors), never served from the client's cache. */
  private async list(method: string, params: { cursor?: string } | undefined): Promise<unknown> {
    const page = await translate(() =>
      this.client.request({ method, params: this.withMeta(params ?? {}) } as never, { cacheMode: 'bypass' } as never),
    );
    if (method === 'tools/list') this.learnMirrors(page);
    return page;
  }

  private learnMirrors(page: unknown): void {
    const tools = (page as { tools?: unknown }).tools;
    if (!Array.isArray(tools)) return;
    for (const tool of tools as { name?: unknown; inputSchema?: unknown }[]) {
      if (typeof tool.name !== 'string') continue;
      const declared = paramHeaders(tool.inputSchema);
      if (declared !== undefined && declared.length > 0) this.mirrors.set(tool.name, declared);
      else this.mirrors.delete(tool.name);
    }
  }

  setNotificationHandler(schema: unknown, handler: (notification: never) => void): void {
    this.client.setNotificationHandler(methodOf(schema) as never, handler as never);
  }

  setRequestHandler(schema: unknown, handler: Handler): void {
    this.client.setRequestHandler(
      methodOf(schema) as never,
      ((request: { method: string; params?: unknown }, ctx: { mcpReq: { id?: unknown; signal: AbortSignal } }) =>
        // At 2026 every server request is an embedded input request, and its id is its inputRequests key.
        handler(request, {
          signal: ctx.mcpReq.signal,
          ...(this.era === '2026' && typeof ctx.mcpReq.id === 'string' && { inputKey: ctx.mcpReq.id }),
        })) as never,
    );
  }

  ping(options?: { timeout?: number }): Promise<unknown> {
    return translate(() => this.client.ping(options));
  }

  /** 2026 servers do not hear about roots changes: they ask for roots when a call needs them (a 2025 one is told). */
  async sendRootsListChanged(): Promise<void> {
    if (this.era === '2025') await this.client.sendRootsListChanged();
  }

  /**
   * `options.envelope`: what the agent's own 2026 request declared (forward.ts passes it on). A 2026
   * server then hears exactly those capabilities and that log level (none when the agent set none),
   * not the connection's; the v2 client lets a request's own `_meta` keys win over its envelope.
   */
  request(
    request: { method: string; params?: Record<string, unknown> },
    resultSchema: unknown,
    options?: { signal?: AbortSignal; timeout?: number; envelope?: RequestEnvelope },
  ): Promise<unknown> {
    if (this.era === '2026' && (request.method === 'resources/subscribe' || request.method === 'resources/unsubscribe'))
      return translate(() => this.listen.subscribe(request.method, request.params?.uri));
    const { envelope, ...sendOptions } = options ?? {};
    const params = this.withMeta(request.params ?? {}, envelope);
    // Over HTTP a 2026 server checks these against the body: the arguments as forwarded (secrets included, as in the body).
    const mirrored =
      request.method === 'tools/call' && this.era === '2026' && typeof params.name === 'string'
        ? mirroredHeaders(this.mirrors.get(params.name) ?? [], params.arguments)
        : {};
    const send = Object.keys(mirrored).length > 0 ? { ...sendOptions, headers: mirrored } : sendOptions;
    return translate(() =>
      this.client.request({ method: request.method, params } as never, resultSchema as never, send),
    );
  }

  private withMeta(params: Record<string, unknown>, envelope?: RequestEnvelope): Record<string, unknown> {
    if (this.era !== '2026') return params;
    const meta = (params._meta as Record<string, unknown> | undefined) ?? {};
    if (envelope !== undefined) {
      const { [LOG_LEVEL_META_KEY]: _level, ...rest } = meta;
      return {
        ...params,
        _meta: {
          ...rest,
          [CLIENT_CAPABILITIES_META_KEY]: envelope.clientCapabilities,
          ...(envelope.logLevel !== undefined && { [LOG_LEVEL_META_KEY]: envelope.logLevel }),
        },
      };
    }
    if (this.logLevel === undefined) return params;
    return { ...params, _meta: { ...meta, [LOG_LEVEL_META_KEY]: this.logLevel } };
  }
}

/** v2 errors as the v1 `McpError` codes the rest of the gateway classifies. */
async function translate<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ProtocolError) throw new McpError(error.code, error.message, error.data);
    if (error instanceof SdkError) {
      switch (error.code) {
        case SdkErrorCode.RequestTimeout:
          throw new McpError(ErrorCode.RequestTimeout, error.message);
        case SdkErrorCode.ConnectionClosed:
        case SdkErrorCode.NotConnected:
          throw new McpError(ErrorCode.ConnectionClosed, error.message);
        default:
          throw new McpError(ErrorCode.InternalError, error.message, error.data);
      }
    }
    throw error;
  }
}
