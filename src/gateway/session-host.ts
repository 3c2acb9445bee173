import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  ClientCapabilities,
  ClientNotification,
  ClientRequest,
  ResourceUpdatedNotification,
  ServerNotification,
  ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { DownstreamConnection } from '../downstream/connection.js';
import type { Aggregate, CatalogSource, HiddenArguments, ListKind } from '../model/catalog.js';
import type { Principal } from '../model/principal.js';
import type { RequestEnvelope } from '../model/request-envelope.js';
import type { ClientInfo, Ingress } from '../pipeline/context.js';
import type { Pipeline } from '../pipeline/orchestrator.js';
import type { Scrubber } from '../pipeline/stages.js';
import type { SessionTasks } from '../tasks/session.js';
import type { AgentSession } from './agent-session.js';
import type { TasksCapability } from './task-relay.js';
import { sharedSchemaValidator } from '../downstream/schema-validator.js';
import { TASK_INSTRUCTIONS } from '../model/task-names.js';

/** What the SDK hands a request handler beside the request: its id, `_meta`, signal and HTTP details. */
export type Extra = RequestHandlerExtra<ClientRequest | ServerRequest, ClientNotification | ServerNotification>;

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
  /** The downstream servers' instructions, merged (src/gateway/instructions.ts mergeInstructions). */
  instructions?(): string | undefined;
  /** Definition pins: every merged view is shown to them (first sight, changes) before it is used. */
  readonly pins?: { observe(view: Aggregate, sources: readonly CatalogSource[]): void | Promise<void> };
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
  /** The 2026 pool: what this request's `_meta` declared (relayable capabilities, log level), passed on to a 2026 server. */
  envelopeOf?: (extra: Extra) => RequestEnvelope | undefined;
  /** Offer the in-band task meta-tools (default true). */
  taskTools?: boolean;
  /** The 2026 pool: warden__begin_task returns a task handle bound to this key, presented per request (tasks/session.ts). */
  taskHandleKey?: string;
  /** For a session that never sees initialize (the 2026 pool): the version its requests carry, for metrics and traces. */
  protocolVersion?: string;
  /** For a session that never sees initialize (the 2026 pool): what its downstream connections declare they can relay. */
  relayCapabilities?: ClientCapabilities;
  /**
   * The 2026 pool: a 2026 server's input request reaches the session's transport with the server's own
   * `inputRequests` key (relay-link.ts), so the 2026 agent is asked under that key.
   */
  inputKeys?: boolean;
  /**
   * The 2026 pool: what a 2025 session would send its agent unsolicited goes to its listen streams
   * instead (src/ingress/listen.ts), which decide per listener what it is told.
   */
  changes?: SessionChanges;
}

/** Changes a session without an agent channel of its own hands on (the 2026 pool's listen streams). */
export interface SessionChanges {
  /** A server's lists changed (re-listed), pins changed, or a server came back: the merged view was dropped. */
  catalogChanged(kinds: readonly ListKind[]): void;
  /** A subscribed resource changed at `serverId`; the notification has passed the egress stage. */
  resourceUpdated(serverId: string, notification: ResourceUpdatedNotification): void;
}

export const VERSION = '0.1.0';

/** The MCP server one agent session talks to: what it declares and the instructions it answers initialize with. */
export function agentServer(host: SessionHost, tasks: TasksCapability | undefined): Server {
  const merged = host.instructions?.();
  // Tasks exist wherever governance does: the agent is told how to ask for one before anything else.
  const instructions = host.governance
    ? merged === undefined
      ? TASK_INSTRUCTIONS
      : `${TASK_INSTRUCTIONS}\n\n${merged}`
    : merged;
  return new Server(
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
}
