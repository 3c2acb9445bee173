// Over 300 lines: supervision alone (connect, close mid-connect, restart with backoff, probe); lists and server messages live in catalog-refresh.ts and server-messages.ts.
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  McpError,
  type ClientCapabilities,
  type LoggingLevel,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import type { Catalog, ListKind } from '../model/catalog.js';
import type { Logger } from 'pino';
import { deny, type Outcome } from '../pipeline/denial.js';
import { Backoff } from './backoff.js';
import type { CircuitBreaker } from './breaker.js';
import { CatalogRefresh, changedKinds } from './catalog-refresh.js';
import { forwardRequest, type ForwardOptions, type RelayLink } from './forward.js';
import { connectDownstream, forgetEra, type EraVerdict } from './client.js';
import type { ProtocolEra } from '../model/protocol-era.js';
import type { DownstreamClient } from './modern-client.js';
import { rawForward } from './raw-forward.js';
import { ServerMessages, type ConnectionListener } from './server-messages.js';

export type { ConnectionListener };

export type ConnectionState = 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed';

/** How long a server has to answer the ping sent after a transport error before it is declared gone. */
const PROBE_TIMEOUT_MS = 5_000;

export interface ConnectionOptions {
  serverId: string;
  logger: Logger;
  /** Builds a fresh transport for each (re)connect, for the era the server is spoken to in. */
  makeTransport: (era: ProtocolEra) => Promise<Transport>;
  /**
   * The protocol revision the server is spoken to at (config `protocol`): `2026-07-28` through the SDK
   * v2 client (modern-client.ts), `2025-11-25` through the v1 client; `auto` as `verdict` says, after a
   * probe when it says nothing yet (client.ts, connectDownstream).
   */
  protocol?: 'auto' | '2025-11-25' | '2026-07-28';
  /** For `protocol: auto`: the era the server's last probe found, shared by every connection to it. */
  verdict?: EraVerdict;
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
 * One MCP client session to one downstream server. Connects lazily, keeps the server's lists (read and
 * refreshed by catalog-refresh.ts), routes the server's own messages (server-messages.ts), and restarts
 * with backoff when the server goes away. In-flight calls are never replayed.
 */
export class DownstreamConnection {
  readonly serverId: string;
  private client: DownstreamClient | undefined;
  private connecting: Promise<DownstreamClient> | undefined;
  /** The client of the connect under way, so close() can end it at once instead of when it answers or times out. */
  private starting: DownstreamClient | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff();
  private readonly listeners = new Set<ConnectionListener>();
  private stateValue: ConnectionState = 'idle';
  private lastError: string | undefined;
  private logLevel: LoggingLevel | undefined;
  private probing: DownstreamClient | undefined;
  private readonly lists: CatalogRefresh;
  private readonly messages: ServerMessages;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly options: ConnectionOptions) {
    this.serverId = options.serverId;
    this.log = options.logger.child({ server: options.serverId });
    this.now = options.now ?? Date.now;
    this.lists = new CatalogRefresh({
      serverId: options.serverId,
      log: this.log,
      client: () => this.client,
      changed: (kinds) => this.announce(kinds),
    });
    this.messages = new ServerMessages({
      serverId: options.serverId,
      log: this.log,
      capabilities: options.capabilities,
      ...(options.fallbackLink && { fallbackLink: options.fallbackLink }),
      listeners: this.listeners,
      listChanged: (kind) => void this.lists.relist(kind),
    });
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get catalog(): Catalog {
    return this.lists.catalog;
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

  /** A session takes over this connection (opened with no session: `stdio`'s start-up probe) as if it had opened it. */
  adopt(listener: ConnectionListener, fallbackLink: RelayLink): void {
    this.messages.setFallbackLink(fallbackLink);
    this.listeners.add(listener);
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
    const release = this.messages.track(options.link);
    try {
      const forward = { ...options, client, serverId: this.serverId };
      return await ((options.raw === true && rawForward(forward)) || forwardRequest(forward));
    } finally {
      release();
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
    else if (pending) {
      // A connect under way (a server stuck in initialize) is ended now: its process is stopped here.
      await this.starting?.close().catch(() => undefined);
      await pending.then((c) => c.close()).catch(() => undefined);
    }
  }

  private async connect(): Promise<DownstreamClient> {
    this.stateValue = 'connecting';
    let client: DownstreamClient | undefined;
    try {
      client = await connectDownstream(this.options, this.log, (made) => {
        this.starting = made;
        this.installHandlers(made);
      });
      if (this.isClosed()) {
        await client.close().catch(() => undefined);
        throw new Error('connection closed');
      }
      await this.lists.load(client);
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
      const connected = client;
      client.onclose = () => this.onUnexpectedClose(connected);
      this.log.debug({ tools: this.lists.catalog.tools.length }, 'downstream connected');
      return client;
    } catch (error) {
      await client?.close().catch(() => undefined);
      forgetEra(this.options);
      if (!this.isClosed()) {
        const timedOut = error instanceof McpError && error.code === ErrorCode.RequestTimeout;
        this.options.breaker?.failure(timedOut ? 'timeout' : 'error', describe(error));
        this.scheduleRestart(describe(error));
      }
      throw error;
    } finally {
      this.connecting = undefined;
      this.starting = undefined;
    }
  }

  private isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  private onUnexpectedClose(client: DownstreamClient): void {
    if (this.client !== client || this.stateValue === 'closed') return;
    this.client = undefined;
    forgetEra(this.options);
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
      const before = this.lists.catalog;
      this.ready().then(
        () => this.announce(changedKinds(before, this.lists.catalog)),
        () => undefined,
      );
    }, delay);
    this.restartTimer.unref();
  }

  /** Lists that kind again now (merged with a refresh under way); resolves once the catalog has it. */
  refresh(kind: ListKind): Promise<void> {
    return this.lists.refresh(kind);
  }

  private announce(kinds: readonly ListKind[]): void {
    if (kinds.length === 0) return;
    for (const listener of this.listeners) listener.catalogChanged(this.serverId, kinds);
  }

  private installHandlers(client: DownstreamClient): void {
    this.messages.install(client);
    client.onerror = (error) => {
      if (this.isClosed() || this.client !== client)
        this.log.debug({ err: describe(error) }, 'downstream error while closing');
      else {
        this.log.warn({ err: describe(error) }, 'downstream protocol error; message dropped');
        this.probe(client);
      }
    };
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

  /** Tells the server the agent's roots changed. */
  async rootsChanged(): Promise<void> {
    if (this.client && this.options.capabilities.roots) await this.client.sendRootsListChanged().catch(() => undefined);
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
