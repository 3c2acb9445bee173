import { randomUUID } from 'node:crypto';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CancelTaskRequestSchema,
  CancelTaskResultSchema,
  ErrorCode,
  GetTaskPayloadRequestSchema,
  GetTaskPayloadResultSchema,
  GetTaskRequestSchema,
  GetTaskResultSchema,
  ListTasksRequestSchema,
  type ClientNotification,
  type ClientRequest,
  type ServerCapabilities,
  type ServerNotification,
  type ServerRequest,
  type Task,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { DownstreamConnection } from '../downstream/connection.js';
import type { RelayLink } from '../downstream/forward.js';
import type { Principal } from '../model/principal.js';
import { agentTraceMeta } from '../observe/trace-context.js';
import type { CallContext, ClientInfo, Ingress, RelayContext, RelayMethod } from '../pipeline/context.js';
import { WireError, denialToWire } from '../pipeline/denial.js';
import type { Pipeline } from '../pipeline/orchestrator.js';
import type { Scrubber } from '../pipeline/stages.js';

type Extra = RequestHandlerExtra<ClientRequest | ServerRequest, ClientNotification | ServerNotification>;

export type TasksCapability = NonNullable<ServerCapabilities['tasks']>;

/** Tasks one session remembers; the oldest is forgotten past this (its server still keeps it until its TTL). */
const MAX_TASKS = 200;

/**
 * What the gateway declares to agents, from the servers' own `tasks` capabilities: only task-augmented
 * `tools/call` is relayed (a server's tasks on other requests are never reached through the gateway), so
 * nothing is declared unless some server accepts tasks for `tools/call`. `tasks/list` is answered by the
 * gateway from the session's own tasks, so it is always declared with the rest.
 */
export function mergeTaskCapabilities(
  capabilities: readonly (TasksCapability | undefined)[],
): TasksCapability | undefined {
  const present = capabilities.filter((c): c is TasksCapability => c !== undefined);
  if (!present.some((c) => c.requests?.tools?.call !== undefined)) return undefined;
  return {
    list: {},
    ...(present.some((c) => c.cancel !== undefined) && { cancel: {} }),
    requests: { tools: { call: {} } },
  };
}

/** What the relay needs from its session. */
export interface TaskRelayHost {
  readonly pipeline: Pipeline;
  readonly egress: Scrubber;
  /** The fields every record of this session carries. */
  origin(): { ingress: Ingress; sessionId?: string; protocolVersion?: string; clientInfo?: ClientInfo };
  /** The verified caller of this request (as every call sees it). */
  principal(extra: Extra): Promise<Principal>;
  connection(serverId: string): DownstreamConnection;
  timeoutMs(serverId: string): number;
  /** Where a server's requests during a follow-up (an elicitation queued for `tasks/result`) go: this request's stream. */
  link(extra: Extra, serverId: string, ctx: RelayContext): RelayLink;
}

interface OwnedTask {
  server: string;
  principal: Principal;
  /** The creating call's trace and record id: every follow-up record points at it. */
  traceId: string;
  recordId: string | undefined;
}

interface ById {
  params: { taskId: string };
}

type FollowUp = Extract<RelayMethod, `tasks/${string}`>;

/**
 * A downstream's MCP tasks, relayed for one agent session. The creating `tools/call` runs through the
 * governed call pipeline in the session; here the session remembers which task id is whose, and the
 * follow-ups (`tasks/get`, `tasks/result`, `tasks/cancel`, and `tasks/list` as `tasks/get` per task) go
 * to the owning server only for the principal that created the task. Each follow-up is recorded
 * (intent first, through `Pipeline.relay`) as a child of the creating call's record, and what comes back
 * passes the egress stage before it is recorded or answered.
 */
export class TaskRelay {
  private readonly owned = new Map<string, OwnedTask>();

  constructor(private readonly host: TaskRelayHost) {}

  /** Installs the `tasks/*` handlers (`set`: the session's guarded setRequestHandler). */
  register(set: (schema: z.ZodType<unknown>, handler: (req: never, extra: Extra) => Promise<unknown>) => void): void {
    set(GetTaskRequestSchema, (req: ById, extra) =>
      this.follow(extra, 'tasks/get', req.params.taskId, GetTaskResultSchema),
    );
    set(GetTaskPayloadRequestSchema, (req: ById, extra) =>
      this.follow(extra, 'tasks/result', req.params.taskId, GetTaskPayloadResultSchema),
    );
    set(CancelTaskRequestSchema, (req: ById, extra) =>
      this.follow(extra, 'tasks/cancel', req.params.taskId, CancelTaskResultSchema),
    );
    set(ListTasksRequestSchema, (_req, extra) => this.list(extra));
  }

  /** A task a governed `tools/call` created: remembered for the principal that made the call. */
  remember(taskId: string, server: string, call: CallContext, recordId: string | undefined): void {
    this.owned.delete(taskId);
    this.owned.set(taskId, { server, principal: call.principal, traceId: call.traceId, recordId });
    if (this.owned.size > MAX_TASKS) this.owned.delete(this.owned.keys().next().value!);
  }

  private async list(extra: Extra): Promise<{ tasks: Task[] }> {
    const principal = await this.host.principal(extra);
    const mine = [...this.owned.entries()].filter(([, task]) => samePrincipal(task.principal, principal));
    const tasks = await Promise.all(
      mine.map(([taskId]) =>
        this.follow(extra, 'tasks/get', taskId, GetTaskResultSchema).then(
          (task) => task as Task,
          () => undefined, // gone on its server (expired): left out
        ),
      ),
    );
    return { tasks: tasks.filter((task): task is Task => task !== undefined) };
  }

  private async follow<T>(extra: Extra, method: FollowUp, taskId: string, schema: z.ZodType<T>): Promise<T> {
    const principal = await this.host.principal(extra);
    const task = this.owned.get(taskId);
    // Another principal's task and no task at all get the same answer: an id reveals nothing.
    if (!task || !samePrincipal(task.principal, principal))
      throw new WireError(ErrorCode.InvalidParams, 'Task not found');
    const params = { taskId };
    const ctx: RelayContext = {
      requestId: randomUUID(),
      ...this.host.origin(),
      traceId: task.traceId,
      principal,
      method,
      server: task.server,
      ...(task.recordId !== undefined && { parentRecordId: task.recordId }),
      params,
      startedAt: this.host.pipeline.now(),
    };
    return this.host.pipeline.relay(ctx, async () => {
      const answered = await this.host.connection(task.server).request({
        method,
        params: withAgentMeta(params, extra),
        resultSchema: schema,
        signal: extra.signal,
        timeoutMs: this.host.timeoutMs(task.server),
        link: this.host.link(extra, task.server, ctx),
      });
      if (!answered.ok) throw denialToWire(this.host.egress.scrubDenial(answered.denial));
      // Tool output (tasks/result) and status text alike leave through the egress stage, recorded as sent.
      return this.host.egress.scrubResult(answered.value);
    });
  }
}

/**
 * A follow-up as its server gets it: the agent's `_meta` (its trace context checked as on any call, from
 * `_meta` or the request's HTTP headers; a progress token is replaced or dropped by forward.ts), so a
 * follow-up is not poorer than the call that made the task. The record keeps only the task id.
 */
function withAgentMeta(params: { taskId: string }, extra: Extra): Record<string, unknown> {
  const own = typeof extra._meta === 'object' && extra._meta !== null ? (extra._meta as Record<string, unknown>) : {};
  const meta = agentTraceMeta(own, extra.requestInfo?.headers);
  return Object.keys(meta).length === 0 ? params : { ...params, _meta: meta };
}

function samePrincipal(a: Principal, b: Principal): boolean {
  return a.issuer === b.issuer && a.subject === b.subject && a.tenant === b.tenant;
}
