// Over 300 lines: the session state, its listeners and the hot path's entry (hotToolsCall) stay together; routing and forwarding live in session-methods.ts and session-forward.ts.
import { randomUUID } from 'node:crypto';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  ErrorCode,
  McpError,
  type CallToolRequest,
  type ClientCapabilities,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import {
  errorAnswer,
  hotPathBlocker,
  type HotAnswer,
  type HotListAnswer,
  type HotToolCall,
  type HotToolsList,
} from './hot-call.js';
import { listPage, type ListSpec } from './list-page.js';
import type { ConnectionListener } from '../downstream/connection.js';
import type { Principal } from '../model/principal.js';
import type { Logger } from 'pino';
import type { CallContext, ListMethod } from '../pipeline/context.js';
import type { ListEntry } from '../pipeline/orchestrator.js';
import { WireError } from '../pipeline/denial.js';
import { aggregate, routeResource } from './catalog.js';
import type { Aggregate, CatalogSource, ListKind } from '../model/catalog.js';
import { ResourceOwners, sameSchemeOwner } from './resource-owner.js';
import { AgentRequestLink } from './relay-link.js';
import { relayRecorder } from './relay-record.js';
import type { SessionTasks } from '../tasks/session.js';
import { watchNegotiatedVersion } from './negotiated-version.js';
import { TaskRelay } from './task-relay.js';
import { Forwarder } from './session-forward.js';
import { guard, registerMethods } from './session-methods.js';
import { agentServer, type Extra, type SessionHost, type SessionOptions } from './session-host.js';

export type { SessionHost, SessionOptions } from './session-host.js';

export { VERSION } from './session-host.js';

/**
 * The gateway as one MCP server to one agent session. Every list and call goes through the pipeline;
 * downstream connections belong to this session unless the server is declared shared. The session holds
 * the state; its method table (session-methods.ts) routes each request and its forwarder
 * (session-forward.ts) runs it through the pipeline: the members they read are not private.
 */
export class AgentSession implements ConnectionListener {
  readonly server: Server;
  readonly id = randomUUID();
  sessionId: string | undefined;
  private view: Aggregate | undefined;
  /** Per merged view, each list method's entries (the same array while the view is the same): read by the method table's list. */
  readonly catalogEntries = new WeakMap<Aggregate, Map<ListMethod, ListEntry<unknown>[]>>();
  readonly tasks: SessionTasks | undefined;
  readonly subscriptions = new Set<string>();
  readonly owners = new ResourceOwners();
  private closed = false;
  private closing: Promise<void> | undefined;
  readonly log: Logger;
  /** For recording server→client requests that arrive between calls (before the first request: the owner). */
  private lastPrincipal: Principal | undefined;
  /** Each request's verified caller, once its handler has authenticated it. */
  private readonly verified = new WeakMap<Extra, Principal>();
  /** What initialize negotiated: every call, list and relay of the session carries it (metrics' `era`). */
  private protocolVersion: string | undefined;
  readonly taskTools: boolean;
  /** The servers' MCP tasks, when any server offers them (not the gateway's own `warden__*` task grants). */
  readonly taskRelay: TaskRelay | undefined;
  readonly forwarder: Forwarder;
  /** The `tools/call` handler, shared by the SDK server and the hot path (set by the method table). */
  callTool!: (req: CallToolRequest, extra: Extra) => Promise<Record<string, unknown>>;
  /** How this session lists tools, shared by the SDK server and the hot path (set by the method table). */
  toolsList!: ListSpec<unknown>;
  /** Requests that came by the hot path: their downstream request skips the SDK client, notifications go to `notify`. */
  readonly hot = new WeakMap<object, HotToolCall>();

  constructor(
    readonly host: SessionHost,
    readonly options: SessionOptions,
  ) {
    this.log = host.logger.child({ session: this.id, ingress: options.ingress });
    const tasks = host.taskCapability?.();
    this.server = agentServer(host, tasks);
    this.server.onerror = (error) => this.log.warn({ err: error.message }, 'agent protocol error');
    watchNegotiatedVersion(this.server, (version) => (this.protocolVersion = version));
    this.taskTools = options.taskTools !== false;
    this.tasks = host.governance?.sessionTasks(
      () => this.sessionId ?? this.id,
      () => this.permissionsChanged(),
      options.taskHandleKey,
    );
    this.taskRelay = tasks && this.newTaskRelay();
    this.forwarder = new Forwarder(this);
    registerMethods(this);
  }

  get clientCapabilities() {
    return this.server.getClientCapabilities();
  }

  /** What this session's downstream connections may declare: the agent's own, or what the 2026 pool relays. */
  get downstreamCapabilities(): ClientCapabilities | undefined {
    return this.options.relayCapabilities ?? this.clientCapabilities;
  }

  get clientInfo() {
    return this.server.getClientVersion();
  }

  // ---- ConnectionListener -------------------------------------------------------------------

  catalogChanged(_serverId: string, kinds: readonly ListKind[]): void {
    this.view = undefined;
    if (this.closed) return;
    if (this.options.changes) return this.options.changes.catalogChanged(kinds);
    if (!this.clientCapabilities) return;
    for (const kind of kinds) this.sendListChanged(kind);
  }

  /** Policy, task or revocation state changed: the agent is told about each list whose visible items changed. */
  permissionsChanged(): void {
    if (this.closed || !this.clientCapabilities || !this.view || !this.tasks) return;
    for (const kind of this.tasks.changedKinds(this.view, this.tasks.now())) this.sendListChanged(kind);
  }

  private sendListChanged(kind: ListKind): void {
    const send =
      kind === 'tools'
        ? this.server.sendToolListChanged()
        : kind === 'prompts'
          ? this.server.sendPromptListChanged()
          : this.server.sendResourceListChanged();
    send.catch(() => undefined);
  }

  downstreamNotification(serverId: string, notification: ServerNotification): void {
    if (this.closed) return;
    if (notification.method === 'notifications/resources/updated') {
      this.owners.announce(notification.params.uri, serverId);
      if (!this.subscriptions.has(notification.params.uri)) return;
    }
    // Same rule as every other downstream text on its way to the agent: no secret value, in any encoding.
    let scrubbed: ServerNotification;
    try {
      scrubbed = this.host.egress.scrubValue(notification);
    } catch {
      return; // nested too deep to scrub: dropped, never passed on unscrubbed
    }
    if (this.options.changes && scrubbed.method === 'notifications/resources/updated')
      return this.options.changes.resourceUpdated(serverId, scrubbed);
    this.server.notification(scrubbed).catch(() => undefined);
  }

  /** Every caller waits for the same close: the gateway's stop must not return while a server is still stopping. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    this.tasks?.close(this.tasks.now());
    await this.host.releaseConnections(this);
    await this.server.close().catch(() => undefined);
  }

  private newTaskRelay(): TaskRelay {
    return new TaskRelay({
      pipeline: this.host.pipeline,
      egress: this.host.egress,
      origin: () => {
        const info = this.clientInfo;
        return {
          ingress: this.options.ingress,
          ...(this.sessionId !== undefined && { sessionId: this.sessionId }),
          ...this.version(),
          ...(info && { clientInfo: { name: info.name, version: info.version } }),
        };
      },
      principal: (extra) => this.principal(extra),
      connection: (serverId) => this.host.connectionFor(this, serverId),
      timeoutMs: (serverId) => this.host.servers().find((s) => s.id === serverId)?.timeoutMs ?? 60_000,
      link: (extra, serverId) =>
        new AgentRequestLink(
          this.server,
          this.host.egress,
          extra.requestId,
          undefined,
          relayRecorder(() => this.relayOrigin(serverId, undefined)),
        ),
    });
  }

  /**
   * The server a resource URI goes to (src/gateway/resource-owner.ts): listed or templated, else
   * announced to this session, else listed after the servers re-list their resources now (a resource
   * made after the last list), else the first server with URIs of its scheme, which answers a real
   * miss itself.
   */
  async resourceOwner(uri: string): Promise<string | undefined> {
    const listed = routeResource(await this.currentView(), uri) ?? this.owners.announcedOwner(uri);
    if (listed) return listed;
    const servers = this.host.servers();
    await Promise.all(
      servers.map((server) =>
        this.host
          .connectionFor(this, server.id)
          .refresh('resources')
          .catch(() => undefined),
      ),
    );
    this.view = undefined;
    const view = await this.currentView();
    return (
      routeResource(view, uri) ??
      sameSchemeOwner(
        view,
        servers.map((server) => server.id),
        uri,
      )
    );
  }

  /**
   * A `tools/call` by the hot path (hot-call.ts): the same handler, guard and pipeline as the SDK path,
   * with the request's `extra` built here as the SDK's protocol layer builds it. Undefined when this
   * call must take the SDK path instead (decided before anything is recorded or forwarded).
   */
  async hotToolsCall(call: HotToolCall): Promise<HotAnswer | undefined> {
    if (!this.hotTakes(call.request)) return undefined;
    const extra = this.hotExtra(call.id, call.request.params._meta, call);
    this.hot.set(extra, call);
    try {
      return { result: await guard(this.log, () => this.callTool(call.request, extra)) };
    } catch (error) {
      return errorAnswer(error);
    }
  }

  /**
   * Whether `hotToolsCall` answers this request (decided at once, before anything is recorded or
   * forwarded): not on a closed session, not the `warden__*` task tools, not a call that needs the SDK's
   * protocol layer (hotPathBlocker).
   */
  hotTakes(request: CallToolRequest): boolean {
    if (this.closed || (this.taskTools && this.tasks?.handles(request.params.name))) return false;
    return hotPathBlocker(request, this.clientCapabilities) === undefined;
  }

  /**
   * A `tools/list` by the hot path: the same list (authenticated, filtered, recorded) as the SDK path's,
   * answered as JSON bytes whose catalog part is remembered serialised (list-page.ts).
   */
  async hotToolsList(call: HotToolsList): Promise<HotListAnswer | undefined> {
    if (this.closed) return undefined;
    const extra = this.hotExtra(call.id, call._meta, call);
    try {
      const chunks = await guard(this.log, async () =>
        (await listPage(this, extra, this.toolsList, call.cursor)).chunks(),
      );
      return { resultChunks: chunks };
    } catch (error) {
      return errorAnswer(error) as HotListAnswer;
    }
  }

  /** A hot request's `extra`, built as the SDK's protocol layer builds it. */
  private hotExtra(
    id: string | number,
    meta: unknown,
    call: Pick<HotToolCall, 'signal' | 'authInfo' | 'headers'>,
  ): Extra {
    return {
      signal: call.signal,
      ...(this.sessionId !== undefined && { sessionId: this.sessionId }),
      _meta: meta,
      sendNotification: async () => undefined,
      sendRequest: () => Promise.reject(new McpError(ErrorCode.MethodNotFound, 'not available on the hot path')),
      authInfo: call.authInfo,
      requestId: id,
      ...(call.headers && { requestInfo: { headers: call.headers } }),
    } as unknown as Extra;
  }

  /** The hash of the definition a tool or prompt was routed with in the current view (read before any await). */
  routedHash(kind: 'tools' | 'prompts', target: string): string | undefined {
    return this.view?.[kind].get(target)?.definitionHash;
  }

  /** Connects every enabled server that is not yet connected (failures leave that server out) and merges. */
  async currentView(): Promise<Aggregate> {
    if (this.view) return this.view;
    const servers = this.host.servers();
    const connections = servers.map((server) => this.host.connectionFor(this, server.id));
    await Promise.all(connections.map((connection) => connection.ready().catch(() => undefined)));
    const sources: CatalogSource[] = servers.map((server, index) => ({
      serverId: server.id,
      prefix: server.prefix,
      ...(server.hiddenArguments && { hiddenArguments: server.hiddenArguments }),
      catalog: connections[index]!.catalog,
    }));
    const view = aggregate(this.host.egress, sources);
    await this.host.pins?.observe(view, sources);
    for (const problem of view.problems)
      this.log.warn({ server: problem.server, problem: problem.kind }, problem.detail);
    this.view = view;
    return view;
  }

  /** Where server→client requests that arrive between calls go: the session, recorded like any relay. */
  fallbackLink(serverId: string): AgentRequestLink {
    return new AgentRequestLink(
      this.server,
      this.host.egress,
      undefined,
      undefined,
      relayRecorder(() => this.relayOrigin(serverId, undefined)),
    );
  }

  relayOrigin(server: string, parent: CallContext | undefined) {
    const info = this.clientInfo;
    const clientInfo = info && { name: info.name, version: info.version };
    return {
      pipeline: this.host.pipeline,
      ingress: this.options.ingress,
      sessionId: this.sessionId,
      ...this.version(),
      clientInfo,
      server,
      parent,
      principal: this.lastPrincipal ?? this.owner(),
    };
  }

  version(): { protocolVersion?: string } {
    const version = this.protocolVersion ?? this.options.protocolVersion;
    return version === undefined ? {} : { protocolVersion: version };
  }

  /** The session's owner with its task, as a request would see it; an owner that cannot be verified now is none. */
  private async owner(): Promise<Principal | undefined> {
    let owner: Principal | undefined;
    try {
      owner = await this.options.owner();
    } catch {
      return undefined;
    }
    return owner && this.tasks ? this.tasks.effective(owner, this.tasks.now()) : owner;
  }

  /** The verified caller of this request; an ingress may throw a WireError that says why there is none. */
  async principal(extra: Extra): Promise<Principal> {
    // Handlers authenticate first, then build the call's context: one verification per request.
    const known = this.verified.get(extra);
    if (known) return known;
    let principal: Principal | undefined;
    try {
      principal = await this.options.principalOf(extra);
    } catch (error) {
      this.host.pipeline.authFailure({
        ingress: this.options.ingress,
        session: this.sessionId,
        reason: error instanceof Error ? error.message : 'no credential',
      });
      throw error;
    }
    if (!principal) {
      this.host.pipeline.authFailure({
        ingress: this.options.ingress,
        session: this.sessionId,
        reason: 'no credential',
      });
      throw new WireError(ErrorCode.InvalidRequest, 'Authentication required');
    }
    const effective = this.tasks ? this.tasks.effective(principal, this.tasks.now()) : principal;
    this.lastPrincipal = effective;
    this.verified.set(extra, effective);
    return effective;
  }
}
