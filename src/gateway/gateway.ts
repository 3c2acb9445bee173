// Over 300 lines: the composition root of one gateway process (servers, breakers, probes, sessions); split candidates are the probe and breaker scheduling.
import { join } from 'node:path';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { LoadedConfig } from '../config/load.js';
import type { ServerConfig } from '../config/schema.js';
import {
  DownstreamConnection,
  describe,
  type ConnectionListener,
  type ConnectionState,
} from '../downstream/connection.js';
import type { EraVerdict } from '../downstream/client.js';
import type { HiddenArguments, ListKind } from '../model/catalog.js';
import { CircuitBreaker, type BreakerSnapshot } from '../downstream/breaker.js';
import { LaunchedServer, type LaunchableConfig, type LaunchState } from '../downstream/launcher.js';
import { createClientTransport } from '../downstream/transport.js';
import { WardenError } from '../errors.js';
import type { Logger } from 'pino';
import { Pipeline } from '../pipeline/orchestrator.js';
import type { Stages } from '../pipeline/stages.js';
import type { Governance } from './governance.js';
import { AgentSession } from './agent-session.js';
import type { SessionHost, SessionOptions } from './session-host.js';
import { hiddenArgumentsOf } from '../secrets/hide.js';
import { JWKS_FILE } from '../secrets/setup.js';
import { aggregate } from './catalog.js';
import { mergeInstructions } from './instructions.js';
import type { PinRegistry } from '../integrity/registry.js';
import { mergeTaskCapabilities, type TasksCapability } from './task-relay.js';
import type { StoreHealth } from '../state/pg/link.js';
import type { SharedSpends } from '../state/shared.js';

/**
 * The shared store as the gateway sees it: its health for /healthz, the single-use ids every replica
 * spends once (2026 requestStates), and closing it at stop.
 */
export interface StoreAttachment {
  health(): StoreHealth;
  spends?: SharedSpends;
  close(): Promise<void>;
}

interface ServerEntry {
  id: string;
  spec: ServerConfig;
  prefix: string | false;
  timeoutMs: number;
  launched?: LaunchedServer;
  shared?: DownstreamConnection;
  /** `stdio` mode: the start-up probe's connection to a stdio server, kept for the one session to take over. */
  spare?: DownstreamConnection;
  probe: { ok: boolean; error?: string; tools: number };
  hiddenArguments: HiddenArguments;
  breaker: CircuitBreaker;
  probeTimer?: NodeJS.Timeout;
  /** The server's `instructions`, from the last probe that connected. */
  instructions?: string;
  /** The server's `tasks` capability, from the last probe that connected. */
  tasks?: TasksCapability;
  /** `protocol: auto`: the era its last probe found (for the process's life, until the server goes away). */
  verdict: EraVerdict;
}

export interface ServerHealth {
  transport: ServerConfig['transport'];
  shared: boolean;
  status: 'up' | 'degraded' | 'down';
  probe: ServerEntry['probe'];
  launch?: { state: LaunchState; pid?: number };
  connections: Partial<Record<ConnectionState, number>>;
  breaker: BreakerSnapshot;
}

/**
 * Owns everything that outlives one agent session: the pipeline, launched downstream processes, shared
 * connections, and the registry of live sessions and their downstream connections.
 */
export class Gateway implements SessionHost {
  readonly pipeline: Pipeline;
  readonly listPageSize: number;
  private readonly entries: ServerEntry[];
  private readonly sessions = new Map<AgentSession, Map<string, DownstreamConnection>>();
  private stopped = false;
  /** `stdio` mode (one agent per process): start-up probes of stdio servers are kept for the session. */
  private keepProbes = false;
  private store: StoreAttachment | undefined;
  private readonly releasing = new Set<Promise<void>>();
  /** Probe connections under way (start-up and breaker probes): stop() closes them, so none outlives the gateway. */
  private readonly probing = new Set<DownstreamConnection>();
  private readonly secrets: Stages['secrets'];
  /** The egress stage: lists, notifications, relayed requests, stderr lines. */
  readonly egress: Stages['scrubber'];

  constructor(
    readonly loaded: LoadedConfig,
    readonly logger: Logger,
    stages: Stages,
    /** Policy and tasks, when a policy is configured (its authorizer is the one in `stages`). */
    readonly governance?: Governance,
    /** Definition pins, when any server pins (its authorizer wraps the one in `stages`). */
    readonly pins?: PinRegistry,
  ) {
    this.pipeline = new Pipeline(stages, logger);
    this.secrets = stages.secrets;
    this.egress = stages.scrubber;
    this.listPageSize = loaded.config.gateway.listPageSize;
    const defaultTimeout = loaded.config.gateway.defaultTimeoutMs;
    this.entries = Object.entries(loaded.config.servers)
      .filter(([, spec]) => spec.enabled)
      .map(([id, spec]) => ({
        id,
        spec,
        prefix: spec.prefix === false ? false : (spec.prefix ?? id),
        timeoutMs: spec.timeoutMs ?? defaultTimeout,
        probe: { ok: false, error: 'not probed yet', tools: 0 },
        hiddenArguments: hiddenArgumentsOf(spec.secrets),
        breaker: new CircuitBreaker(),
        verdict: { era: undefined },
      }));
    for (const entry of this.entries)
      entry.breaker.onChange((snapshot, previous) => this.breakerChanged(entry, snapshot, previous));
  }

  /** The servers' own instructions, merged for agents (see mergeInstructions). */
  instructions(only?: (serverId: string) => boolean): string | undefined {
    const entries = only ? this.entries.filter((entry) => only(entry.id)) : this.entries;
    return mergeInstructions(
      this.egress,
      entries.map((entry) => ({ serverId: entry.id, prefix: entry.prefix, text: entry.instructions })),
    );
  }

  /** The `tasks` capability agents are offered: what the servers declared, merged (see mergeTaskCapabilities). */
  taskCapability(): TasksCapability | undefined {
    return mergeTaskCapabilities(this.entries.map((entry) => entry.tasks));
  }

  /** Whether a server accepts task-augmented `tools/call`, as its last probe declared. */
  serverTakesTasks(serverId: string): boolean {
    return this.entries.find((entry) => entry.id === serverId)?.tasks?.requests?.tools?.call !== undefined;
  }

  /** The circuit breaker of each enabled server, for health and metrics (read-only snapshots). */
  breakers(): Record<string, BreakerSnapshot> {
    return Object.fromEntries(this.entries.map((entry) => [entry.id, entry.breaker.snapshot()]));
  }

  private breakerChanged(entry: ServerEntry, snapshot: BreakerSnapshot, previous: string): void {
    const log = this.logger.child({ server: entry.id, breaker: snapshot.state, failures: snapshot.failures });
    if (snapshot.state === 'open') {
      log.warn(
        { err: snapshot.lastError, retryInMs: entry.breaker.probeDelayMs },
        'circuit breaker open: calls to this server fail at once until a probe connects',
      );
      if (!this.stopped) this.scheduleBreakerProbe(entry);
    } else if (snapshot.state === 'closed') {
      log.info({ previous }, 'circuit breaker closed: the server answered');
      // Views built while it was open lack its lists: every session rebuilds and tells its agent.
      for (const session of this.sessions.keys()) session.catalogChanged(entry.id, ['tools', 'prompts', 'resources']);
    } else {
      log.info('circuit breaker half-open: probing the server');
    }
  }

  /** One probe connection when the open period ends; never made by (or waited on by) an agent's request. */
  private scheduleBreakerProbe(entry: ServerEntry): void {
    if (entry.probeTimer) clearTimeout(entry.probeTimer);
    entry.probeTimer = setTimeout(() => {
      entry.probeTimer = undefined;
      if (this.stopped) return;
      entry.breaker.probeStarted();
      void this.probe(entry, true);
    }, entry.breaker.probeDelayMs ?? 0);
    entry.probeTimer.unref();
  }

  /**
   * Launches supervised servers, then probes every server once: it lists what each offers so that
   * name collisions and refused names are found at start-up, not by an agent. `keepProbes` (`stdio`
   * mode): a stdio server's probe connection is kept for the one session, so the server starts once.
   */
  async start(options: { keepProbes?: boolean } = {}): Promise<void> {
    this.keepProbes = options.keepProbes === true;
    for (const entry of this.entries) {
      if ((entry.spec.transport === 'http' || entry.spec.transport === 'sse') && entry.spec.launch) {
        entry.launched = new LaunchedServer(
          entry.id,
          entry.spec as LaunchableConfig,
          this.loaded.baseDir,
          this.logger,
          join(this.loaded.dataDir, 'keys', JWKS_FILE),
          (text) => this.egress.scrubText(text),
        );
        // The launch credential is the gateway's own: a server that echoes its environment or the header it got returns it redacted.
        this.egress.remember(entry.launched.credential);
      }
    }
    await Promise.all(this.entries.map((entry) => entry.launched?.start()));
    const catalogs = await Promise.all(this.entries.map((entry) => this.probe(entry)));
    const sources = this.entries.map((entry, index) => ({
      serverId: entry.id,
      prefix: entry.prefix,
      hiddenArguments: entry.hiddenArguments,
      catalog: catalogs[index]!,
    }));
    const view = aggregate(this.egress, sources);
    const collisions = view.problems.filter((problem) => problem.kind === 'collision');
    if (collisions.length > 0) {
      throw new WardenError(
        'ERR_NAME_COLLISION',
        `name collisions between servers (give them distinct prefixes):\n${collisions.map((c) => `  ${c.server}: ${c.detail}`).join('\n')}`,
      );
    }
    for (const problem of view.problems) this.logger.warn({ server: problem.server }, problem.detail);
    // Pins first sight (or a change since the last run) before any agent can list or call.
    await this.pins?.observe(view, sources);
    this.logger.info(
      { servers: this.entries.map((e) => ({ id: e.id, ok: e.probe.ok, tools: e.probe.tools })) },
      'gateway ready',
    );
  }

  /** Connects once and lists (at start-up, and as the breaker's half-open probe); keeps the connection for a shared server. */
  private async probe(entry: ServerEntry, breakerProbe = false) {
    const connection = this.newConnection(entry, {}, undefined, breakerProbe);
    this.probing.add(connection);
    try {
      return await this.probeWith(entry, connection, breakerProbe);
    } finally {
      this.probing.delete(connection);
    }
  }

  private async probeWith(entry: ServerEntry, connection: DownstreamConnection, breakerProbe: boolean) {
    const keep = async () => {
      if (!entry.spec.shared && !breakerProbe && this.keepProbes && entry.spec.transport === 'stdio' && !this.stopped) {
        entry.spare = connection;
        return;
      }
      if (!entry.spec.shared || this.stopped) return connection.close();
      const previous = entry.shared;
      entry.shared = connection;
      if (previous && previous !== connection) await previous.close();
    };
    try {
      await connection.ready();
      entry.probe = { ok: true, tools: connection.catalog.tools.length };
      entry.instructions = connection.instructions;
      entry.tasks = connection.serverCapabilities?.tasks;
      const catalog = connection.catalog;
      // A successful breaker probe replaces the shared connection; a failed one keeps the one there is.
      await keep();
      return catalog;
    } catch (error) {
      entry.probe = { ok: false, error: describe(error), tools: 0 };
      this.logger.warn(
        { server: entry.id, err: describe(error) },
        breakerProbe ? 'breaker probe failed' : 'server did not answer at start-up; it will be retried when used',
      );
      if (entry.spec.shared && !entry.shared) await keep();
      else await connection.close();
      return connection.catalog;
    }
  }

  createSession(options: SessionOptions): AgentSession {
    if (this.stopped) throw new WardenError('ERR_DOWNSTREAM_UNAVAILABLE', 'gateway is stopping');
    const session = new AgentSession(this, options);
    this.sessions.set(session, new Map());
    return session;
  }

  /** A policy reload or a revocation: every session re-checks what it shows and sends list_changed where it differs. */
  permissionsChanged(): void {
    for (const session of this.sessions.keys()) session.permissionsChanged();
  }

  /** Pins changed (here or in another process): sessions re-list those lists and the agent gets list_changed. */
  pinsChanged(kinds: readonly ListKind[]): void {
    for (const session of this.sessions.keys()) session.catalogChanged('', kinds);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  servers(): readonly { id: string; prefix: string | false; timeoutMs: number; hiddenArguments: HiddenArguments }[] {
    return this.entries;
  }

  connectionFor(session: AgentSession, serverId: string): DownstreamConnection {
    const entry = this.entries.find((e) => e.id === serverId);
    if (!entry) throw new WardenError('ERR_DOWNSTREAM_UNAVAILABLE', `unknown server ${serverId}`);
    if (entry.shared) {
      entry.shared.addListener(session);
      return entry.shared;
    }
    const own = this.sessions.get(session);
    if (!own) throw new WardenError('ERR_DOWNSTREAM_UNAVAILABLE', 'session is closed');
    let connection = own.get(serverId);
    if (!connection) {
      const capabilities = mirrorCapabilities(session.downstreamCapabilities);
      connection = this.adoptSpare(entry, capabilities, session) ?? this.newConnection(entry, capabilities, session);
      own.set(serverId, connection);
    }
    return connection;
  }

  /**
   * `stdio` mode: the start-up probe's connection becomes the session's, so the server is not started a
   * second time. Only a ready one, and only when the agent declared none of the client features the
   * session would mirror (the probe declared none, and a server learns them at initialize only); else
   * it is closed and the session opens its own, as in `serve`.
   */
  private adoptSpare(
    entry: ServerEntry,
    capabilities: ClientCapabilities,
    session: AgentSession,
  ): DownstreamConnection | undefined {
    const spare = entry.spare;
    entry.spare = undefined;
    if (!spare) return undefined;
    if (spare.state !== 'ready' || Object.keys(capabilities).length > 0) {
      const release = spare.close().finally(() => this.releasing.delete(release));
      this.releasing.add(release);
      return undefined;
    }
    spare.removeListener(this.sharedListener);
    spare.adopt(session, session.fallbackLink(entry.id));
    return spare;
  }

  async releaseConnections(session: AgentSession): Promise<void> {
    const own = this.sessions.get(session);
    this.sessions.delete(session);
    for (const entry of this.entries) entry.shared?.removeListener(session);
    if (!own) return;
    // stop() waits for these too: a server being stopped still has processes until this settles.
    const release = Promise.all([...own.values()].map((connection) => connection.close())).then(() => undefined);
    this.releasing.add(release);
    try {
      await release;
    } finally {
      this.releasing.delete(release);
    }
  }

  perCallConnection(
    session: AgentSession,
    serverId: string,
    env: Readonly<Record<string, string>>,
  ): DownstreamConnection {
    const entry = this.entries.find((e) => e.id === serverId);
    if (!entry || entry.spec.transport !== 'stdio')
      throw new WardenError('ERR_DOWNSTREAM_UNAVAILABLE', `server ${serverId} cannot run per call`);
    const spec = { ...entry.spec, env: { ...entry.spec.env, ...env } };
    return this.newConnection({ ...entry, spec }, mirrorCapabilities(session.downstreamCapabilities), session);
  }

  private newConnection(
    entry: ServerEntry,
    capabilities: ClientCapabilities,
    session: AgentSession | undefined,
    breakerProbe = false,
  ): DownstreamConnection {
    const connection = new DownstreamConnection({
      serverId: entry.id,
      logger: this.logger,
      capabilities,
      connectTimeoutMs: entry.spec.connectTimeoutMs,
      breaker: entry.breaker,
      probe: breakerProbe,
      protocol: entry.spec.protocol,
      verdict: entry.verdict,
      makeTransport: (era) =>
        createClientTransport(
          entry.id,
          entry.spec,
          this.loaded.baseDir,
          this.logger,
          {
            ...(entry.launched && { url: entry.launched.url, headers: launchHeaders(entry) }),
            ...(this.secrets.protocolHeaders && { secretHeaders: () => this.secrets.protocolHeaders!(entry.id) }),
            redact: (text) => this.egress.scrubText(text),
          },
          era,
        ),
      ...(session && { fallbackLink: session.fallbackLink(entry.id) }),
    });
    if (session) connection.addListener(session);
    else connection.addListener(this.sharedListener);
    return connection;
  }

  /** Shared connections fan list changes out to every session using them. */
  private readonly sharedListener: ConnectionListener = {
    catalogChanged: (serverId: string, kinds: readonly ListKind[]) => {
      for (const session of this.sessions.keys()) session.catalogChanged(serverId, kinds);
    },
    downstreamNotification: () => undefined,
  };

  /** The store (PostgreSQL, or state.db's spends) this gateway reports at /healthz and closes when it stops. */
  attachStore(store: StoreAttachment): void {
    this.store = store;
  }

  /** The store's spent single-use ids (state.db or PostgreSQL; undefined: this process's memory). */
  get spends(): SharedSpends | undefined {
    return this.store?.spends;
  }

  /**
   * What /healthz shows. `storeReachable` is the one field a load balancer needs: whether this replica
   * can reach its store, so can serve calls at all (a replica without it refuses every call). `status`
   * says more, and is `degraded` when any downstream is down too, which other replicas share.
   */
  health(): {
    status: 'ok' | 'degraded';
    storeReachable: boolean;
    sessions: number;
    store: StoreHealth;
    servers: Record<string, ServerHealth>;
  } {
    const servers: Record<string, ServerHealth> = {};
    for (const entry of this.entries) {
      const counts: Partial<Record<ConnectionState, number>> = {};
      const connections = entry.shared
        ? [entry.shared]
        : [...this.sessions.values()].flatMap((own) => own.get(entry.id) ?? []);
      for (const connection of connections) counts[connection.state] = (counts[connection.state] ?? 0) + 1;
      const launchDown = entry.launched && entry.launched.state !== 'running';
      const anyDown = (counts.backoff ?? 0) > 0;
      servers[entry.id] = {
        transport: entry.spec.transport,
        shared: entry.spec.shared,
        status:
          launchDown ||
          entry.breaker.state !== 'closed' ||
          (!entry.probe.ok && !connections.some((c) => c.state === 'ready'))
            ? 'down'
            : anyDown
              ? 'degraded'
              : 'up',
        probe: entry.probe,
        ...(entry.launched && {
          launch: { state: entry.launched.state, ...(entry.launched.pid !== undefined && { pid: entry.launched.pid }) },
        }),
        connections: counts,
        breaker: entry.breaker.snapshot(),
      };
    }
    const store: StoreHealth = this.store?.health() ?? { kind: 'sqlite', status: 'up' };
    const degraded = store.status !== 'up' || Object.values(servers).some((s) => s.status !== 'up');
    return {
      status: degraded ? 'degraded' : 'ok',
      storeReachable: store.status === 'up',
      sessions: this.sessions.size,
      store,
      servers,
    };
  }

  /** Closes every session and connection and stops launched processes; no child outlives this. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const entry of this.entries) if (entry.probeTimer) clearTimeout(entry.probeTimer);
    await Promise.all([
      ...[...this.sessions.keys()].map((session) => session.close()),
      ...[...this.probing].map((connection) => connection.close()),
    ]);
    await Promise.all(this.releasing);
    this.governance?.close();
    this.pins?.close();
    await Promise.all(this.entries.map((entry) => entry.shared?.close()));
    await Promise.all(this.entries.map((entry) => entry.spare?.close()));
    await Promise.all(this.entries.map((entry) => entry.launched?.stop()));
    await this.store?.close();
  }
}

function launchHeaders(entry: ServerEntry): Record<string, string> {
  const configured = Object.keys(entry.spec.transport === 'stdio' ? {} : entry.spec.headers).some(
    (h) => h.toLowerCase() === 'authorization',
  );
  return configured || !entry.launched ? {} : entry.launched.headers;
}

/** Declares to a downstream exactly the client features the agent declared, so relays never dead-end. */
function mirrorCapabilities(agent: ClientCapabilities | undefined): ClientCapabilities {
  const caps: ClientCapabilities = {};
  if (agent?.sampling) caps.sampling = agent.sampling;
  if (agent?.elicitation) caps.elicitation = agent.elicitation;
  if (agent?.roots) caps.roots = { listChanged: true };
  return caps;
}
