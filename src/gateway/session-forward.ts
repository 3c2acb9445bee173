import { CreateTaskResultSchema, ElicitResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { TASK_SERVER } from '../model/task-names.js';
import type { AskUser, CallContext, CallMethod } from '../pipeline/context.js';
import { denialToWire, ok, type Denial } from '../pipeline/denial.js';
import type { AgentSession } from './agent-session.js';
import { buildCallContext, requestTraceparent, type CallRequest } from './call-context.js';
import { agentTraceMeta, type TraceHeaders } from '../observe/trace-context.js';
import { AgentRequestLink } from './relay-link.js';
import { relayRecorder } from './relay-record.js';
import type { Extra } from './session-host.js';

/**
 * The forwarder: one routed request through the pipeline (decision, record, secrets, egress, outcome) to
 * its server, with the agent's cancellation, progress and server→client requests relayed on its link.
 */
export class Forwarder {
  constructor(private readonly session: AgentSession) {}

  async forward<T>(
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
        ? this.session.routedHash('tools', target)
        : method === 'prompts/get'
          ? this.session.routedHash('prompts', target)
          : undefined;
    // The audit record keeps the hash the call was made under (its tool_hash): what a pin or an approval covered.
    const ctx = await this.context(extra, method, serverId, target, downstreamTarget, args, definitionHash);
    const server = this.session.host.servers().find((s) => s.id === serverId);
    const connection = this.session.host.connectionFor(this.session, serverId);
    const agentToken = (extra._meta as { progressToken?: string | number } | undefined)?.progressToken;
    const hot = this.session.hot.get(extra);
    const envelope = this.session.options.envelopeOf?.(extra);
    const link = new AgentRequestLink(
      this.session.server,
      this.session.host.egress,
      extra.requestId,
      agentToken,
      relayRecorder(() => this.session.relayOrigin(serverId, ctx)),
      hot && ((notification) => hot.notify?.(notification)),
      this.session.options.inputKeys === true,
    );
    const outcome = await this.session.host.pipeline.call(ctx, async (injection) => {
      const perCall = injection.env && this.session.host.perCallConnection(this.session, serverId, injection.env);
      try {
        const answered = await (perCall ?? connection).request({
          method,
          params: withTraceMeta(params(injection), injection.traceparent, extra.requestInfo?.headers),
          resultSchema: schema,
          signal: extra.signal,
          timeoutMs: server?.timeoutMs ?? 60_000,
          link,
          headers: withTrace(injection.headers, injection.traceparent),
          ...(hot && { raw: true }),
          ...(envelope && { envelope }),
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

  /**
   * A task-augmented `tools/call`: the same governed call (authorize as the tool, intent, secrets,
   * egress, outcome), answered by the server with a task; the task is remembered for this principal,
   * under the call's record id, for the follow-ups (task-relay.ts).
   */
  async createTask(
    extra: Extra,
    params: { name: string; task?: unknown } & Record<string, unknown>,
    route: { server: string; downstreamName: string },
    args: Record<string, unknown>,
  ) {
    const relay = this.session.taskRelay;
    if (!relay || !this.session.host.serverTakesTasks?.(route.server))
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
      (ctx, created) =>
        relay.remember(created.task.taskId, route.server, ctx, this.session.host.pipeline.recordId(ctx)),
    );
  }

  /** The task meta-tools run in the gateway, through the same pipeline (decision, record) as any call. */
  async taskTool(extra: Extra, name: string, args: Record<string, unknown>) {
    const ctx = await this.context(extra, 'tools/call', TASK_SERVER, name, name, args);
    const view = await this.session.currentView();
    const outcome = await this.session.host.pipeline.call(ctx, async () =>
      this.session.tasks!.run(name, args, view, this.session.tasks!.now()),
    );
    if (!outcome.ok) throw denialToWire(outcome.denial);
    return outcome.value;
  }

  /** Records a request refused before any server was chosen (unknown name), then answers it. */
  async refuse(extra: Extra, method: CallMethod, target: string, denial: Denial): Promise<never> {
    const ctx = await this.context(extra, method, '', target, target, undefined);
    await this.session.host.pipeline.refuse(ctx, denial);
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
    const clientInfo = this.session.options.clientInfoOf?.(extra) ?? this.session.clientInfo;
    const request: CallRequest = {
      ingress: this.session.options.ingress,
      ...(this.session.sessionId !== undefined && { sessionId: this.session.sessionId }),
      ...this.session.version(),
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
    return buildCallContext(await this.session.principal(extra), request, () => this.session.host.pipeline.now());
  }

  /** Whether the agent declared form elicitation (an empty `elicitation` capability means form). */
  private canAskUser(): boolean {
    const elicitation = this.session.clientCapabilities?.elicitation as { form?: unknown; url?: unknown } | undefined;
    return elicitation !== undefined && (elicitation.form !== undefined || elicitation.url === undefined);
  }

  /** A yes/no question to the agent host's user, sent on this request's own stream (`relatedRequestId`). */
  private askUser(extra: Extra): AskUser {
    return async ({ message, timeoutMs }) => {
      const result = await this.session.server.request(
        { method: 'elicitation/create', params: { message, requestedSchema: { type: 'object', properties: {} } } },
        ElicitResultSchema,
        { relatedRequestId: extra.requestId, timeout: timeoutMs, signal: extra.signal },
      );
      return result.action;
    };
  }
}
/** The call's secret headers, and the gateway's trace context when it traces (a tool server's spans join the trace). */
function withTrace(
  headers: Readonly<Record<string, string>>,
  traceparent: string | undefined,
): Readonly<Record<string, string>> {
  return traceparent === undefined ? headers : { ...headers, traceparent };
}

/**
 * The agent's trace context checked (a malformed `traceparent`, `tracestate` or `baggage` is dropped,
 * never forwarded), from `_meta` or, where `_meta` has none, from the request's HTTP headers
 * (`agentTraceMeta`); and the gateway's `traceparent` when it traces, for stdio servers and SDKs that
 * read it there, in place of the agent's.
 */
function withTraceMeta(
  params: Record<string, unknown>,
  traceparent: string | undefined,
  headers: TraceHeaders | undefined,
): Record<string, unknown> {
  const own =
    typeof params._meta === 'object' && params._meta !== null ? (params._meta as Record<string, unknown>) : {};
  const checked = agentTraceMeta(own, headers);
  const carried = traceparent === undefined ? checked : { ...checked, traceparent };
  if (carried === params._meta || (params._meta === undefined && Object.keys(carried).length === 0)) return params;
  return { ...params, _meta: carried };
}
