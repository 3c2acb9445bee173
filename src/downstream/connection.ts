// Over 300 lines: connection supervision and catalog refresh still share this file; moving the refresh to its own module is open (issue 23).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  McpError,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ProgressNotificationSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
  type ClientCapabilities,
  type LoggingLevel,
  type ResourceTemplate,
  type ServerCapabilities,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { Catalog, ListKind } from '../model/catalog.js';
import type { Logger } from 'pino';
import { deny, type Outcome } from '../pipeline/denial.js';
import { Backoff } from './backoff.js';
import type { CircuitBreaker } from './breaker.js';
import { internList } from './intern.js';
import { fetchAllPages } from './paging.js';
import { forwardRequest, type ForwardOptions, type RelayLink } from './forward.js';
import { sharedSchemaValidator } from './schema-validator.js';
import type { DownstreamClient } from './modern-client.js';
import type { ProtocolEra } from '../model/protocol-era.js';
import { rawForward } from './raw-forward.js';

export type ConnectionState = 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed';

const EMPTY_CATALOG: Catalog = { tools: [], prompts: [], resources: [], templates: [] };

/** How long a server has to answer the ping sent after a transport error before it is declared gone. */
const PROBE_TIMEOUT_MS = 5_000;

/** Who a connection reports to: the agent session that owns it, or every session using a shared one. */
export interface ConnectionListener {
  /** The connection's lists changed (after a re-list or a restart). */
  catalogChanged(serverId: string, kinds: readonly ListKind[]): void;
  /** A downstream notification with no better destination (log messages, resource updates). */
  downstreamNotification(serverId: string, notification: ServerNotification): void;
}

export interface ConnectionOptions {
  serverId: string;
  logger: Logger;
  /** Builds a fresh transport for each (re)connect, for the era the server is spoken to in. */
  makeTransport: (era: ProtocolEra) => Promise<Transport>;
  /**
   * The protocol revision the server is spoken to at (config `protocol`): `2026-07-28` through the SDK
   * v2 client (modern-client.ts), `2025-11-25` (and, for now, `auto`) through the v1 client.
   */
  protocol?: 'auto' | '2025-11-25' | '2026-07-28';
  /** What to declare to the downstream: mirrors the agent's own capabilities, or nothing for a shared pool. */
  capabilities: ClientCapabilities;
  connectTimeoutMs: number;
  /** The session's agent, for server→client requests made outside any call; none for shared connections. */
  fallbackLink?: RelayLink;
  now?: () => number;
  /** The server's circuit breaker (src/downstream/breaker.ts): told of every connect's result, and asked before one. */
  breaker?: CircuitBreaker;
  /** The breaker's own probe: connects even while the breaker is not closed. */
  probe?: boolean;
}

/**
 * One MCP client session to one downstream server. Connects lazily, keeps the server's lists, and
 * restarts with backoff when the server goes away. In-flight calls are never replayed.
 */
export class DownstreamConnection {
  readonly serverId: string;
  private client: DownstreamClient | undefined;
  private connecting: Promise<DownstreamClient> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff();
  private readonly listeners = new Set<ConnectionListener>();
  private readonly inflight = new Map<number, RelayLink>();
  private nextCallId = 1;
  private stateValue: ConnectionState = 'idle';
  private catalogValue: Catalog = EMPTY_CATALOG;
  private lastError: string | undefined;
  private logLevel: LoggingLevel | undefined;
  private probing: DownstreamClient | undefined;
  /** Re-lists in progress per kind (see relist()), and a counter bumped whenever every list is fetched anew. */
  private readonly relists: Record<ListKind, { running: Promise<void> | undefined; again: boolean; told: boolean }> = {
    tools: { running: undefined, again: false, told: false },
    prompts: { running: undefined, again: false, told: false },
    resources: { running: undefined, again: false, told: false },
  };
  private generation = 0;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly options: ConnectionOptions) {
    this.serverId = options.serverId;
    this.log = options.logger.child({ server: options.serverId });
    this.now = options.now ?? Date.now;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get catalog(): Catalog {
    return this.catalogValue;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** The server's `instructions` from its initialize answer, while connected. */
  get instructions(): string | undefined {
    return this.client?.getInstructions();
  }

  get serverCapabilities(): ServerCapabilities | undefined {
    return this.client?.getServerCapabilities();
  }

  addListener(listener: ConnectionListener): void {
    this.listeners.add(listener);
  }

  removeListener(listener: ConnectionListener): number {
    this.listeners.delete(listener);
    return this.listeners.size;
  }

  /** Connects if needed. Fails fast while the server is in restart backoff. */
  async ready(): Promise<DownstreamClient> {
    if (this.client && this.stateValue === 'ready') return this.client;
    if (this.stateValue === 'closed') throw new Error('connection closed');
    if (this.stateValue === 'backoff') throw new Error(`restarting after a failure: ${this.lastError ?? 'unknown'}`);
    // While the server's breaker is open no session waits on it: the call fails at once, saying why.
    const breaker = this.options.breaker;
    if (!this.connecting && breaker && !breaker.allowsConnect && !this.options.probe) throw new Error(breaker.reason);
    this.connecting ??= this.connect();
    return this.connecting;
  }

  /** Forwards one request on behalf of an agent request; see forward.ts for the error mapping. */
  async request<T>(options: Omit<ForwardOptions<T>, 'client' | 'serverId'>): Promise<Outcome<T>> {
    let client: DownstreamClient;
    try {
      client = await this.ready();
    } catch (error) {
      return deny({ kind: 'server_unavailable', server: this.serverId, reason: describe(error) });
    }
    const callId = this.nextCallId++;
    if (options.link) this.inflight.set(callId, options.link);
    try {
      const forward = { ...options, client, serverId: this.serverId };
      return await ((options.raw === true && rawForward(forward)) || forwardRequest(forward));
    } finally {
      this.inflight.delete(callId);
    }
  }

  /** Remembers the level for later (re)connects and applies it now when connected. */
  async setLogLevel(level: LoggingLevel): Promise<void> {
    this.logLevel = level;
    const client = this.client;
    if (client && client.getServerCapabilities()?.logging) await client.setLoggingLevel(level);
  }

  async close(): Promise<void> {
    this.stateValue = 'closed';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const client = this.client;
    this.client = undefined;
    const pending = this.connecting;
    this.connecting = undefined;
    if (client) await client.close().catch(() => undefined);
    else if (pending) await pending.then((c) => c.close()).catch(() => undefined);
  }

  /** The era this server is spoken to in. */
  get era(): ProtocolEra {
    return this.options.protocol === '2026-07-28' ? '2026' : '2025';
  }

  /** The v2 client (and the SDK v2 it needs) is imported only when a 2026-era server is connected. */
  private async newClient(): Promise<DownstreamClient> {
    const info = { name: 'mcp-warden', version: '0.1.0' };
    if (this.era === '2026') {
      const { ModernClient } = await import('./modern-client.js');
      return new ModernClient(info, this.options.capabilities).asDownstreamClient();
    }
    return new Client(info, {
      capabilities: this.options.capabilities,
      listChanged: undefined,
      jsonSchemaValidator: sharedSchemaValidator,
    });
  }

  private async connect(): Promise<DownstreamClient> {
    this.stateValue = 'connecting';
    const client = await this.newClient();
    this.installHandlers(client);
    try {
      await client.connect(await this.options.makeTransport(this.era), { timeout: this.options.connectTimeoutMs });
      if (this.isClosed()) {
        await client.close().catch(() => undefined);
        throw new Error('connection closed');
      }
      const catalog = await this.fetchCatalog(client);
      this.generation += 1;
      this.catalogValue = catalog;
      if (this.logLevel && client.getServerCapabilities()?.logging) await client.setLoggingLevel(this.logLevel);
      // close() may have run while the lists were fetched: never revive a closed connection.
      if (this.isClosed()) {
        await client.close().catch(() => undefined);
        throw new Error('connection closed');
      }
      this.client = client;
      this.stateValue = 'ready';
      this.lastError = undefined;
      this.backoff.up(this.now());
      this.options.breaker?.success();
      client.onclose = () => this.onUnexpectedClose(client);
      this.log.debug({ tools: this.catalogValue.tools.length }, 'downstream connected');
      return client;
    } catch (error) {
      await client.close().catch(() => undefined);
      if (!this.isClosed()) {
        const timedOut = error instanceof McpError && error.code === ErrorCode.RequestTimeout;
        this.options.breaker?.failure(timedOut ? 'timeout' : 'error', describe(error));
        this.scheduleRestart(describe(error));
      }
      throw error;
    } finally {
      this.connecting = undefined;
    }
  }

  private isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  private onUnexpectedClose(client: DownstreamClient): void {
    if (this.client !== client || this.stateValue === 'closed') return;
    this.client = undefined;
    this.scheduleRestart('the server closed the connection');
  }

  private scheduleRestart(reason: string): void {
    this.lastError = reason;
    this.stateValue = 'backoff';
    const delay = this.backoff.next(this.now());
    this.log.warn(
      { reason, retryInMs: delay, attempt: this.backoff.attempts },
      'downstream unavailable; restarting with backoff',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stateValue !== 'backoff') return;
      this.stateValue = 'idle';
      const before = this.catalogValue;
      this.ready().then(
        () => this.announce(changedKinds(before, this.catalogValue)),
        () => undefined,
      );
    }, delay);
    this.restartTimer.unref();
  }

  private async fetchCatalog(client: DownstreamClient): Promise<Catalog> {
    const caps = client.getServerCapabilities() ?? {};
    const [tools, prompts, resources, templates] = await Promise.all([
      caps.tools
        ? fetchAllPages(
            (cursor) => client.listTools(cursor ? { cursor } : {}),
            (r) => r.tools,
          )
        : [],
      caps.prompts
        ? fetchAllPages(
            (cursor) => client.listPrompts(cursor ? { cursor } : {}),
            (r) => r.prompts,
          )
        : [],
      caps.resources
        ? fetchAllPages(
            (cursor) => client.listResources(cursor ? { cursor } : {}),
            (r) => r.resources,
          )
        : [],
      caps.resources ? listTemplates(client) : [],
    ]);
    const id = this.options.serverId;
    return {
      tools: internList(id, 'tools', tools),
      prompts: internList(id, 'prompts', prompts),
      resources: internList(id, 'resources', resources),
      templates: internList(id, 'templates', templates),
    } as Catalog;
  }

  /**
   * One refresh per kind at a time. A list_changed that arrives while that kind's refresh is under way
   * is merged into one more round after it, so the newest list always wins; and each round writes only
   * its own kind into the catalog as it is then (never a copy taken before the await, which would put
   * back another kind's older list).
   */
  private relist(kind: ListKind, onRequest = false): Promise<void> {
    const state = this.relists[kind];
    // The server said the list changed: the agent is told even if it looks the same (a re-list on a
    // routing miss, `onRequest`, tells it only of a real difference).
    if (!onRequest) state.told = true;
    if (state.running) {
      state.again = true;
      return state.running;
    }
    state.running = this.relistRounds(kind).finally(() => (state.running = undefined));
    return state.running;
  }

  /** Lists that kind again now (merged with a refresh under way); resolves once the catalog has it. */
  refresh(kind: ListKind): Promise<void> {
    if (!this.client) return Promise.resolve();
    if (kind === 'resources' && !this.client.getServerCapabilities()?.resources) return Promise.resolve();
    return this.relist(kind, true);
  }

  private async relistRounds(kind: ListKind): Promise<void> {
    const state = this.relists[kind];
    let changed = false;
    do {
      state.again = false;
      const client = this.client;
      if (!client) return;
      const generation = this.generation;
      try {
        const id = this.options.serverId;
        let update: Partial<Catalog>;
        if (kind === 'tools')
          update = {
            tools: internList(
              id,
              'tools',
              await fetchAllPages(
                (c) => client.listTools(c ? { cursor: c } : {}),
                (r) => r.tools,
              ),
            ),
          };
        else if (kind === 'prompts')
          update = {
            prompts: internList(
              id,
              'prompts',
              await fetchAllPages(
                (c) => client.listPrompts(c ? { cursor: c } : {}),
                (r) => r.prompts,
              ),
            ),
          };
        else {
          const [resources, templates] = await Promise.all([
            fetchAllPages(
              (c) => client.listResources(c ? { cursor: c } : {}),
              (r) => r.resources,
            ),
            listTemplates(client),
          ]);
          update = {
            resources: internList(id, 'resources', resources),
            templates: internList(id, 'templates', templates),
          };
        }
        // A reconnect fetched every list afresh meanwhile: this round's answer is older than that.
        if (generation !== this.generation || this.client !== client) return;
        // Interned lists (intern.ts): an unchanged list is the very same array, and nobody is told.
        const before = this.catalogValue;
        this.catalogValue = { ...before, ...update } as Catalog;
        if (state.told || (Object.keys(update) as (keyof Catalog)[]).some((key) => update[key] !== before[key]))
          changed = true;
      } catch (error) {
        this.log.warn({ kind, err: describe(error) }, 're-list after list_changed failed; keeping the previous list');
      }
    } while (state.again);
    state.told = false;
    if (changed) this.announce([kind]);
  }

  private announce(kinds: readonly ListKind[]): void {
    if (kinds.length === 0) return;
    for (const listener of this.listeners) listener.catalogChanged(this.serverId, kinds);
  }

  /** The agent request a server→client message belongs to: the latest call in flight, else the session. */
  private currentLink(): RelayLink | undefined {
    let latest: RelayLink | undefined;
    for (const link of this.inflight.values()) latest = link;
    if (latest && (this.options.fallbackLink || this.inflight.size === 1)) return latest;
    return this.options.fallbackLink;
  }

  private installHandlers(client: DownstreamClient): void {
    // Progress is routed by forward.ts with the gateway's own tokens; the SDK's handler would drop them.
    client.setNotificationHandler(ProgressNotificationSchema, (n) => {
      for (const link of this.inflight.values()) if (link.progress(n.params)) return;
    });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void this.relist('tools'));
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => void this.relist('prompts'));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void this.relist('resources'));
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => this.route(n));
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      for (const listener of this.listeners) listener.downstreamNotification(this.serverId, n);
    });
    client.onerror = (error) => {
      if (this.isClosed() || this.client !== client)
        this.log.debug({ err: describe(error) }, 'downstream error while closing');
      else {
        this.log.warn({ err: describe(error) }, 'downstream protocol error; message dropped');
        this.probe(client);
      }
    };

    const caps = this.options.capabilities;
    const relay =
      (method: string) => async (request: { method: string; params?: unknown }, extra: { signal: AbortSignal }) => {
        const link = this.currentLink();
        if (!link)
          throw new Error(`${method} cannot be relayed: no agent request is in flight on this shared connection`);
        return link.relayRequest(request, extra.signal);
      };
    if (caps.sampling) client.setRequestHandler(CreateMessageRequestSchema, relay('sampling/createMessage') as never);
    if (caps.elicitation) client.setRequestHandler(ElicitRequestSchema, relay('elicitation/create') as never);
    if (caps.roots) client.setRequestHandler(ListRootsRequestSchema, relay('roots/list') as never);
  }

  /**
   * After a transport error, asks the server whether it is still there. An HTTP server that died or
   * restarted never says so (no close event; a cut response stream is not resumed), so without this its
   * calls in flight would hang until their deadline and later calls would hit a dead session. A server
   * that does not answer is closed here: calls in flight fail at once (never replayed), and the close
   * schedules the restart.
   */
  private probe(client: DownstreamClient): void {
    if (this.probing === client) return;
    this.probing = client;
    const done = () => {
      if (this.probing === client) this.probing = undefined;
    };
    client.ping({ timeout: PROBE_TIMEOUT_MS }).then(done, (error: unknown) => {
      done();
      // Any JSON-RPC answer, even "method not found", means the session is alive.
      const alive =
        error instanceof McpError &&
        error.code !== ErrorCode.ConnectionClosed &&
        error.code !== ErrorCode.RequestTimeout;
      if (alive || this.client !== client || this.isClosed()) return;
      this.log.warn({ err: describe(error) }, 'downstream did not answer after a transport error; reconnecting');
      void client.close().catch(() => undefined);
    });
  }

  /** Log messages go to the agent whose call is in flight, or to the owning session. */
  private route(notification: ServerNotification): void {
    const link = this.currentLink();
    if (link) {
      void link.notify(notification);
      return;
    }
    // A shared connection has no one session to tell: fanning out would leak between tenants.
    if (!this.options.fallbackLink) {
      this.log.debug(
        { method: notification.method },
        'log message from a shared server with no single call in flight; not relayed',
      );
      return;
    }
    for (const listener of this.listeners) listener.downstreamNotification(this.serverId, notification);
  }

  /** Tells the server the agent's roots changed. */
  async rootsChanged(): Promise<void> {
    if (this.client && this.options.capabilities.roots) await this.client.sendRootsListChanged().catch(() => undefined);
  }
}

/** Resource templates; a server with resources but no templates method (-32601) simply has none. */
async function listTemplates(client: DownstreamClient): Promise<ResourceTemplate[]> {
  try {
    return await fetchAllPages(
      (cursor) => client.listResourceTemplates(cursor ? { cursor } : {}),
      (r) => r.resourceTemplates,
    );
  } catch (error) {
    if (error instanceof McpError && error.code === ErrorCode.MethodNotFound) return [];
    throw error;
  }
}

function changedKinds(before: Catalog, after: Catalog): ListKind[] {
  const kinds: ListKind[] = [];
  if (JSON.stringify(before.tools) !== JSON.stringify(after.tools)) kinds.push('tools');
  if (JSON.stringify(before.prompts) !== JSON.stringify(after.prompts)) kinds.push('prompts');
  if (JSON.stringify([before.resources, before.templates]) !== JSON.stringify([after.resources, after.templates]))
    kinds.push('resources');
  return kinds;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
