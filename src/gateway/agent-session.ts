// Over 300 lines: the session still routes, pages, builds call contexts and forwards; the split into a method table, a context builder and a forwarder is open (issue 23).
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  type CallToolRequest,
  CompleteRequestSchema,
  CompleteResultSchema,
  CreateTaskResultSchema,
  ElicitResultSchema,
  EmptyResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  McpError,
  GetPromptResultSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  ReadResourceResultSchema,
  RootsListChangedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ClientCapabilities,
  type ServerNotification,
  type ServerRequest,
  type ClientNotification,
  type ClientRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { ConnectionListener, DownstreamConnection } from '../downstream/connection.js';
import type { Principal } from '../model/principal.js';
import type { Logger } from 'pino';
import type {
  AskUser,
  CallContext,
  CallMethod,
  ClientInfo,
  Ingress,
  ListContext,
  ListMethod,
} from '../pipeline/context.js';
import { WireError, denialToWire, type Denial } from '../pipeline/denial.js';
import type { ListEntry, Pipeline } from '../pipeline/orchestrator.js';
import type { Scrubber } from '../pipeline/stages.js';
import { ok } from '../pipeline/denial.js';
import { aggregate, routeResource } from './catalog.js';
import type { Aggregate, CatalogSource, HiddenArguments, ListKind } from '../model/catalog.js';
import { decodeCursor, page } from './cursor.js';
import { ResourceOwners, sameSchemeOwner } from './resource-owner.js';
import { AgentRequestLink } from './relay-link.js';
import { relayRecorder } from './relay-record.js';
import { TASK_INSTRUCTIONS, TASK_SERVER } from '../model/task-names.js';
import type { SessionTasks } from '../tasks/session.js';
import { cleanPromptResult } from '../model/sanitize.js';
import { sharedSchemaValidator } from '../downstream/schema-validator.js';
import { buildCallContext, requestTraceparent, type CallRequest } from './call-context.js';
import { watchNegotiatedVersion } from './negotiated-version.js';
import { TaskRelay, type TasksCapability } from './task-relay.js';
import { errorAnswer, hotPathBlocker, type HotAnswer, type HotToolCall } from './hot-call.js';

type Extra = RequestHandlerExtra<ClientRequest | ServerRequest, ClientNotification | ServerNotification>;

/** What a session needs from the gateway that owns it. */
export interface SessionHost {
  readonly pipeline: Pipeline;
  /** The egress stage: definitions, notifications and relayed requests pass it on their way to the agent. */
  readonly egress: Scrubber;
  readonly logger: Logger;
  readonly listPageSize: number;
  /** Enabled server ids in config order, with their prefixes. */
  servers(): readonly { id: string; prefix: string | false; timeoutMs: number; hiddenArguments?: HiddenArguments }[];
  /** The connection this session uses for a server: its own, or the shared pool's. */
  connectionFor(session: AgentSession, serverId: string): DownstreamConnection;
  /** A connection to a fresh process of a stdio server with `env` added, for one call (`per-call` secrets); the caller closes it. */
  perCallConnection(
    session: AgentSession,
    serverId: string,
    env: Readonly<Record<string, string>>,
  ): DownstreamConnection;
  releaseConnections(session: AgentSession): Promise<void>;
  /** Policy and tasks, when a policy is configured: the session's task state and the task meta-tools. */
  readonly governance?: {
    sessionTasks(sessionId: () => string, onChange: () => void, handleKey?: string): SessionTasks;
  };
  /** The downstream servers' instructions, merged (src/gateway/catalog.ts mergeInstructions). */
  instructions?(): string | undefined;
  /** Definition pins: every merged view is shown to them (first sight, changes) before it is used. */
  readonly pins?: { observe(view: Aggregate, sources: readonly CatalogSource[]): void };
  /** The servers' `tasks` capabilities, merged: declared to the agent, and task-augmented calls relayed (task-relay.ts). */
  taskCapability?(): TasksCapability | undefined;
  /** Whether a server accepts task-augmented `tools/call`. */
  serverTakesTasks?(serverId: string): boolean;
}

export interface SessionOptions {
  ingress: Ingress;
  /** The principal of the request being handled: from the verified credential on each HTTP request. */
  principalOf: (extra: Extra) => Principal | undefined | Promise<Principal | undefined>;
  /**
   * Who the session belongs to, for requests a server sends between calls before the agent's first
   * request: the principal that opened the HTTP session, or stdio's one credential.
   */
  owner: () => Principal | undefined | Promise<Principal | undefined>;
  /** The client as this request describes itself (2026: `_meta`, per request), else initialize's. Self-reported: recorded, never decides. */
  clientInfoOf?: (extra: Extra) => ClientInfo | undefined;
  /** Offer the in-band task meta-tools (default true). */
  taskTools?: boolean;
  /** The 2026 pool: warden__begin_task returns a task handle bound to this key, presented per request (tasks/session.ts). */
  taskHandleKey?: string;
  /** For a session that never sees initialize (the 2026 pool): the version its requests carry, for metrics and traces. */
  protocolVersion?: string;
  /** For a session that never sees initialize (the 2026 pool): what its downstream connections declare they can relay. */
  relayCapabilities?: ClientCapabilities;
}

export const VERSION = '0.1.0';

/**
 * The gateway as one MCP server to one agent session. Every list and call goes through the pipeline;
 * downstream connections belong to this session unless the server is declared shared.
 */
export class AgentSession implements ConnectionListener {
  readonly server: Server;
  readonly id = randomUUID();
  sessionId: string | undefined;
  private view: Aggregate | undefined;
  /** Per merged view, each list method's entries (the same array while the view is the same). */
  private readonly catalogEntries = new WeakMap<Aggregate, Map<ListMethod, ListEntry<unknown>[]>>();
  private readonly tasks: SessionTasks | undefined;
  private readonly subscriptions = new Set<string>();
  private readonly owners = new ResourceOwners();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly log: Logger;
  /** For recording server→client requests that arrive between calls (before the first request: the owner). */
  private lastPrincipal: Principal | undefined;
  /** What initialize negotiated: every call, list and relay of the session carries it (metrics' `era`). */
  private protocolVersion: string | undefined;
  private readonly taskTools: boolean;
  /** The servers' MCP tasks, when any server offers them (not the gateway's own `warden__*` task grants). */
  private readonly taskRelay: TaskRelay | undefined;
  /** The `tools/call` handler, shared by the SDK server and the hot path. */
  private callTool!: (req: CallToolRequest, extra: Extra) => Promise<Record<string, unknown>>;
  /** Requests that came by the hot path: their downstream request skips the SDK client, notifications go to `notify`. */
  private readonly hot = new WeakMap<object, HotToolCall>();

  constructor(
    private readonly host: SessionHost,
    private readonly options: SessionOptions,
  ) {
    this.log = host.logger.child({ session: this.id, ingress: options.ingress });
    const merged = host.instructions?.();
    // Tasks exist wherever governance does: the agent is told how to ask for one before anything else.
    const instructions = host.governance
      ? merged === undefined
        ? TASK_INSTRUCTIONS
        : `${TASK_INSTRUCTIONS}\n\n${merged}`
      : merged;
    const tasks = host.taskCapability?.();
    this.server = new Server(
      { name: 'mcp-warden', version: VERSION, title: 'mcp-warden gateway' },
      {
        capabilities: {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          completions: {},
          logging: {},
          ...(tasks && { tasks }),
        },
        jsonSchemaValidator: sharedSchemaValidator,
        ...(instructions !== undefined && { instructions }),
      },
    );
    this.server.onerror = (error) => this.log.warn({ err: error.message }, 'agent protocol error');
    watchNegotiatedVersion(this.server, (version) => (this.protocolVersion = version));
    this.taskTools = options.taskTools !== false;
    this.tasks = host.governance?.sessionTasks(
      () => this.sessionId ?? this.id,
      () => this.permissionsChanged(),
      options.taskHandleKey,
    );
    this.taskRelay = tasks && this.newTaskRelay();
    this.register();
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
    if (this.closed || !this.clientCapabilities) return;
    for (const kind of kinds) {
      const send =
        kind === 'tools'
          ? this.server.sendToolListChanged()
          : kind === 'prompts'
            ? this.server.sendPromptListChanged()
            : this.server.sendResourceListChanged();
      send.catch(() => undefined);
    }
  }

  /** Policy, task or revocation state changed: the agent is told about each list whose visible items changed. */
  permissionsChanged(): void {
    if (this.closed || !this.clientCapabilities || !this.view || !this.tasks) return;
    for (const kind of this.tasks.changedKinds(this.view, this.tasks.now())) {
      const send =
        kind === 'tools'
          ? this.server.sendToolListChanged()
          : kind === 'prompts'
            ? this.server.sendPromptListChanged()
            : this.server.sendResourceListChanged();
      send.catch(() => undefined);
    }
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

  /**
   * A `tools/call` by the hot path (hot-call.ts): the same handler, guard and pipeline as the SDK path,
   * with the request's `extra` built here as the SDK's protocol layer builds it. Undefined when this
   * call must take the SDK path instead (decided before anything is recorded or forwarded).
   */
  async hotToolsCall(call: HotToolCall): Promise<HotAnswer | undefined> {
    if (this.closed || (this.taskTools && this.tasks?.handles(call.request.params.name))) return undefined;
    if (hotPathBlocker(call.request, this.clientCapabilities) !== undefined) return undefined;
    const extra = {
      signal: call.signal,
      ...(this.sessionId !== undefined && { sessionId: this.sessionId }),
      _meta: call.request.params._meta,
      sendNotification: async () => undefined,
      sendRequest: () => Promise.reject(new McpError(ErrorCode.MethodNotFound, 'not available on the hot path')),
      authInfo: call.authInfo,
      requestId: call.id,
      requestInfo: { headers: call.headers },
    } as unknown as Extra;
    this.hot.set(extra, call);
    try {
      return { result: await this.guard(() => this.callTool(call.request, extra)) };
    } catch (error) {
      return errorAnswer(error);
    }
  }

  // ---- handlers --------------------------------------------------------------------------------

  private register(): void {
    const server = this.server;
    // Every handler runs behind guard(): an unexpected error reaches the agent as -32603 with no internals.
    const s = {
      setRequestHandler: ((schema: unknown, handler: (req: unknown, extra: Extra) => unknown) =>
        server.setRequestHandler(
          schema as never,
          ((req: unknown, extra: Extra) => this.guard(() => handler(req, extra))) as never,
        )) as unknown as Server['setRequestHandler'],
      setNotificationHandler: server.setNotificationHandler.bind(server),
    };
    s.setRequestHandler(ListToolsRequestSchema, (req, extra) =>
      this.list(
        extra,
        'tools/list',
        req.params?.cursor,
        (v) =>
          [...v.tools.values()].map((r) => ({
            server: r.server,
            target: r.item.name,
            item: r.item,
            definitionHash: r.definitionHash,
          })),
        'tools',
        // The task meta-tools change with the session's task: decided on every list, never remembered.
        (v) => (this.taskTools && this.tasks?.listEntries(v)) || [],
      ),
    );
    s.setRequestHandler(ListPromptsRequestSchema, (req, extra) =>
      this.list(
        extra,
        'prompts/list',
        req.params?.cursor,
        (v) =>
          [...v.prompts.values()].map((r) => ({
            server: r.server,
            target: r.item.name,
            item: r.item,
            definitionHash: r.definitionHash,
          })),
        'prompts',
      ),
    );
    s.setRequestHandler(ListResourcesRequestSchema, (req, extra) =>
      this.list(
        extra,
        'resources/list',
        req.params?.cursor,
        (v) => [...v.resources.values()].map((r) => ({ server: r.server, target: r.item.uri, item: r.item })),
        'resources',
      ),
    );
    s.setRequestHandler(ListResourceTemplatesRequestSchema, (req, extra) =>
      this.list(
        extra,
        'resources/templates/list',
        req.params?.cursor,
        (v) => v.templates.map((r) => ({ server: r.server, target: r.item.uriTemplate, item: r.item })),
        'resourceTemplates',
      ),
    );

    // Kept for the hot path too (hotToolsCall): one handler, whichever way the request came in.
    this.callTool = async (req: CallToolRequest, extra: Extra) => {
      if (this.taskTools && this.tasks?.handles(req.params.name))
        return this.taskTool(extra, req.params.name, req.params.arguments ?? {});
      const view = await this.currentView();
      const route = view.tools.get(req.params.name);
      if (!route)
        return this.refuse(extra, 'tools/call', req.params.name, {
          kind: 'unknown_tool',
          name: req.params.name,
          reason: 'no such tool',
        });
      const args = req.params.arguments ?? {};
      if (req.params.task !== undefined) return this.createTask(extra, req.params, route, args);
      const result = await this.forward(
        extra,
        'tools/call',
        route.server,
        req.params.name,
        route.downstreamName,
        args,
        CallToolResultSchema,
        (injection) => ({
          ...req.params,
          name: route.downstreamName,
          arguments: { ...args, ...injection.arguments },
        }),
      );
      this.owners.announceLinks(result, route.server);
      return result;
    };
    s.setRequestHandler(CallToolRequestSchema, this.callTool);

    s.setRequestHandler(GetPromptRequestSchema, async (req, extra) => {
      const view = await this.currentView();
      const route = view.prompts.get(req.params.name);
      if (!route)
        return this.refuse(extra, 'prompts/get', req.params.name, {
          kind: 'unknown_prompt',
          name: req.params.name,
          reason: 'no such prompt',
        });
      // Prompt text reaches the model as instructions: cleaned like descriptions, not only of escapes,
      // inside the call so the egress stage and the record see exactly what the agent gets.
      return this.forward(
        extra,
        'prompts/get',
        route.server,
        req.params.name,
        route.downstreamName,
        req.params.arguments,
        GetPromptResultSchema,
        () => ({
          ...req.params,
          name: route.downstreamName,
        }),
        cleanPromptResult,
      );
    });

    const byUri =
      (method: CallMethod, schema: z.ZodType<unknown>) => async (req: { params: { uri: string } }, extra: Extra) => {
        const uri = req.params.uri;
        const server = await this.resourceOwner(uri);
        if (!server)
          return this.refuse(extra, method, uri, {
            kind: 'unknown_resource',
            uri,
            reason: 'no server serves this URI',
          });
        const result = await this.forward(extra, method, server, uri, uri, undefined, schema, () => ({
          ...req.params,
        }));
        if (method === 'resources/subscribe') this.subscriptions.add(uri);
        if (method === 'resources/unsubscribe') this.subscriptions.delete(uri);
        return result;
      };
    s.setRequestHandler(ReadResourceRequestSchema, byUri('resources/read', ReadResourceResultSchema) as never);
    s.setRequestHandler(SubscribeRequestSchema, byUri('resources/subscribe', EmptyResultSchema) as never);
    s.setRequestHandler(UnsubscribeRequestSchema, byUri('resources/unsubscribe', EmptyResultSchema) as never);

    s.setRequestHandler(CompleteRequestSchema, async (req, extra) => {
      const view = await this.currentView();
      const ref = req.params.ref;
      if (ref.type === 'ref/prompt') {
        const route = view.prompts.get(ref.name);
        if (!route)
          return this.refuse(extra, 'completion/complete', ref.name, {
            kind: 'unknown_prompt',
            name: ref.name,
            reason: 'no such prompt',
          });
        return this.forward(
          extra,
          'completion/complete',
          route.server,
          ref.name,
          route.downstreamName,
          req.params.argument as never,
          CompleteResultSchema,
          () => ({
            ...req.params,
            ref: { ...ref, name: route.downstreamName },
          }),
        );
      }
      const server = routeResource(view, ref.uri);
      if (!server)
        return this.refuse(extra, 'completion/complete', ref.uri, {
          kind: 'unknown_resource',
          uri: ref.uri,
          reason: 'no server serves this URI',
        });
      return this.forward(
        extra,
        'completion/complete',
        server,
        ref.uri,
        ref.uri,
        req.params.argument as never,
        CompleteResultSchema,
        () => ({ ...req.params }),
      );
    });

    s.setRequestHandler(SetLevelRequestSchema, async (req) => {
      await Promise.all(
        this.host.servers().map((server) =>
          this.host
            .connectionFor(this, server.id)
            .setLogLevel(req.params.level)
            .catch((error: unknown) =>
              this.log.debug({ server: server.id, err: String(error) }, 'setLevel not applied'),
            ),
        ),
      );
      return {};
    });

    s.setNotificationHandler(RootsListChangedNotificationSchema, async () => {
      for (const server of this.host.servers()) await this.host.connectionFor(this, server.id).rootsChanged();
    });
    this.taskRelay?.register((schema, handler) => s.setRequestHandler(schema as never, handler as never));
  }

  /**
   * A task-augmented `tools/call`: the same governed call (authorize as the tool, intent, secrets,
   * egress, outcome), answered by the server with a task; the task is remembered for this principal,
   * under the call's record id, for the follow-ups (task-relay.ts).
   */
  private async createTask(
    extra: Extra,
    params: { name: string; task?: unknown } & Record<string, unknown>,
    route: { server: string; downstreamName: string },
    args: Record<string, unknown>,
  ) {
    const relay = this.taskRelay;
    if (!relay || !this.host.serverTakesTasks?.(route.server))
      return this.refuse(extra, 'tools/call', params.name, {
        kind: 'invalid_params',
        message: `Tool ${params.name} cannot run as a task: its server does not accept tasks`,
        reason: 'task requested from a server without tasks',
      });
    return this.forward(
      extra,
      'tools/call',
      route.server,
      params.name,
      route.downstreamName,
      args,
      CreateTaskResultSchema,
      (injection) => ({ ...params, name: route.downstreamName, arguments: { ...args, ...injection.arguments } }),
      undefined,
      (ctx, created) => relay.remember(created.task.taskId, route.server, ctx, this.host.pipeline.recordId(ctx)),
    );
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

  private async guard<T>(run: () => T | Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof WireError || error instanceof McpError) throw error;
      this.log.error(
        { err: error instanceof Error ? (error.stack ?? error.message) : String(error) },
        'unexpected error in a request handler',
      );
      throw new WireError(ErrorCode.InternalError, 'Internal error');
    }
  }

  /**
   * The server a resource URI goes to (src/gateway/resource-owner.ts): listed or templated, else
   * announced to this session, else listed after the servers re-list their resources now (a resource
   * made after the last list), else the first server with URIs of its scheme, which answers a real
   * miss itself.
   */
  private async resourceOwner(uri: string): Promise<string | undefined> {
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

  /** Connects every enabled server that is not yet connected (failures leave that server out) and merges. */
  private async currentView(): Promise<Aggregate> {
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
    this.host.pins?.observe(view, sources);
    for (const problem of view.problems)
      this.log.warn({ server: problem.server, problem: problem.kind }, problem.detail);
    this.view = view;
    return view;
  }

  private async list<T>(
    extra: Extra,
    method: ListMethod,
    cursor: string | undefined,
    pick: (view: Aggregate) => ListEntry<T>[],
    key: 'tools' | 'prompts' | 'resources' | 'resourceTemplates',
    before?: (view: Aggregate) => ListEntry<T>[],
  ): Promise<Record<string, unknown>> {
    const offset = decodeCursor(method, cursor);
    if (offset === undefined) throw new WireError(ErrorCode.InvalidParams, 'Invalid cursor');
    const principal = await this.principal(extra);
    const traceparent = requestTraceparent(extra._meta, extra.requestInfo?.headers);
    const ctx: ListContext = {
      requestId: randomUUID(),
      ingress: this.options.ingress,
      sessionId: this.sessionId,
      ...this.version(),
      principal,
      method,
      ...(offset > 0 && { offset }),
      ...(traceparent && { traceparent }),
    };
    const view = await this.currentView();
    // The catalog's entries are made once per merged view, so its decisions can be remembered (a new
    // view, after any server's catalog changed, starts afresh); the policy, principal, task and pins are
    // in the authorizer's list key (src/pipeline/orchestrator.ts, filterList).
    let lists = this.catalogEntries.get(view);
    if (!lists) this.catalogEntries.set(view, (lists = new Map()));
    let catalog = lists.get(method) as ListEntry<T>[] | undefined;
    if (!catalog) lists.set(method, (catalog = pick(view)));
    const first = before?.(view) ?? [];
    const entries = first.length === 0 ? catalog : [...first, ...catalog];
    const visible = this.host.pipeline.filterList(ctx, entries, { source: catalog, from: first.length });
    this.tasks?.listed(method, visible);
    const { items, nextCursor } = page(visible, offset, this.host.listPageSize, method);
    return nextCursor === undefined ? { [key]: items } : { [key]: items, nextCursor };
  }

  private async forward<T>(
    extra: Extra,
    method: CallMethod,
    serverId: string,
    target: string,
    downstreamTarget: string,
    args: Record<string, unknown> | undefined,
    schema: z.ZodType<T>,
    params: (injection: { arguments: Readonly<Record<string, unknown>> }) => Record<string, unknown>,
    shape: (result: T) => T = (result) => result,
    /** Sees the server's answer while the call's intent is open (its record id known), before the egress stage. */
    answeredWith?: (ctx: CallContext, value: T) => void,
  ): Promise<T> {
    // Read before the first await: the hash of the definition the route was taken from.
    const definitionHash =
      method === 'tools/call'
        ? this.view?.tools.get(target)?.definitionHash
        : method === 'prompts/get'
          ? this.view?.prompts.get(target)?.definitionHash
          : undefined;
    // The audit record keeps the hash the call was made under (its tool_hash): what a pin or an approval covered.
    const ctx = await this.context(extra, method, serverId, target, downstreamTarget, args, definitionHash);
    const server = this.host.servers().find((s) => s.id === serverId);
    const connection = this.host.connectionFor(this, serverId);
    const agentToken = (extra._meta as { progressToken?: string | number } | undefined)?.progressToken;
    const hot = this.hot.get(extra);
    const link = new AgentRequestLink(
      this.server,
      this.host.egress,
      extra.requestId,
      agentToken,
      relayRecorder(() => this.relayOrigin(serverId, ctx)),
      hot && ((notification) => hot.notify?.(notification)),
    );
    const outcome = await this.host.pipeline.call(ctx, async (injection) => {
      const perCall = injection.env && this.host.perCallConnection(this, serverId, injection.env);
      try {
        const answered = await (perCall ?? connection).request({
          method,
          params: withTraceMeta(params(injection), injection.traceparent),
          resultSchema: schema,
          signal: extra.signal,
          timeoutMs: server?.timeoutMs ?? 60_000,
          link,
          headers: withTrace(injection.headers, injection.traceparent),
          ...(hot && { raw: true }),
        });
        if (answered.ok) answeredWith?.(ctx, answered.value);
        return answered.ok ? ok(shape(answered.value)) : answered;
      } finally {
        await perCall?.close();
      }
    });
    if (!outcome.ok) throw denialToWire(outcome.denial);
    return outcome.value;
  }

  /** The task meta-tools run in the gateway, through the same pipeline (decision, record) as any call. */
  private async taskTool(extra: Extra, name: string, args: Record<string, unknown>) {
    const ctx = await this.context(extra, 'tools/call', TASK_SERVER, name, name, args);
    const view = await this.currentView();
    const outcome = await this.host.pipeline.call(ctx, async () =>
      this.tasks!.run(name, args, view, this.tasks!.now()),
    );
    if (!outcome.ok) throw denialToWire(outcome.denial);
    return outcome.value;
  }

  /** Records a request refused before any server was chosen (unknown name), then answers it. */
  private async refuse(extra: Extra, method: CallMethod, target: string, denial: Denial): Promise<never> {
    const ctx = await this.context(extra, method, '', target, target, undefined);
    await this.host.pipeline.refuse(ctx, denial);
    throw denialToWire(denial);
  }

  private async context(
    extra: Extra,
    method: CallMethod,
    server: string,
    target: string,
    downstreamTarget: string,
    args: Record<string, unknown> | undefined,
    definitionHash?: string,
  ): Promise<CallContext> {
    const clientInfo = this.options.clientInfoOf?.(extra) ?? this.clientInfo;
    const request: CallRequest = {
      ingress: this.options.ingress,
      ...(this.sessionId !== undefined && { sessionId: this.sessionId }),
      ...this.version(),
      ...(clientInfo && { clientInfo }),
      jsonrpcId: extra.requestId,
      method,
      server,
      target,
      downstreamTarget,
      ...(args && { arguments: args }),
      traceparent: requestTraceparent(extra._meta, extra.requestInfo?.headers),
      signal: extra.signal,
      ...(this.canAskUser() && { askUser: this.askUser(extra) }),
      ...(definitionHash !== undefined && { definitionHash }),
    };
    return buildCallContext(await this.principal(extra), request, () => this.host.pipeline.now());
  }

  /** Whether the agent declared form elicitation (an empty `elicitation` capability means form). */
  private canAskUser(): boolean {
    const elicitation = this.clientCapabilities?.elicitation as { form?: unknown; url?: unknown } | undefined;
    return elicitation !== undefined && (elicitation.form !== undefined || elicitation.url === undefined);
  }

  /** A yes/no question to the agent host's user, sent on this request's own stream (`relatedRequestId`). */
  private askUser(extra: Extra): AskUser {
    return async ({ message, timeoutMs }) => {
      const result = await this.server.request(
        { method: 'elicitation/create', params: { message, requestedSchema: { type: 'object', properties: {} } } },
        ElicitResultSchema,
        { relatedRequestId: extra.requestId, timeout: timeoutMs, signal: extra.signal },
      );
      return result.action;
    };
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

  private relayOrigin(server: string, parent: CallContext | undefined) {
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

  private version(): { protocolVersion?: string } {
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
  private async principal(extra: Extra): Promise<Principal> {
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
    return effective;
  }
}

/** The call's secret headers, and the gateway's trace context when it traces (a tool server's spans join the trace). */
function withTrace(
  headers: Readonly<Record<string, string>>,
  traceparent: string | undefined,
): Readonly<Record<string, string>> {
  return traceparent === undefined ? headers : { ...headers, traceparent };
}

/** The same trace context in `_meta`, for stdio servers and SDKs that read it there; replaces the agent's. */
function withTraceMeta(params: Record<string, unknown>, traceparent: string | undefined): Record<string, unknown> {
  if (traceparent === undefined) return params;
  const meta = params._meta;
  return { ...params, _meta: { ...(typeof meta === 'object' && meta !== null ? meta : {}), traceparent } };
}
