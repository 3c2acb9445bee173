import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { CallContext, ListContext, RelayContext } from '../pipeline/context.js';
import type {
  CallObservation,
  ListObservation,
  PipelineObserver,
  RelayObservation,
  StageName,
} from '../pipeline/observer.js';
import type { CallStatus, Decision } from '../pipeline/stages.js';
import { TRACEPARENT } from './trace-context.js';

/**
 * The trace id the next root span must have. Set just before a root span is started, synchronously,
 * and read by the id generator (src/observe/otel-sdk.ts): a call the agent sent without a trace context
 * gets the trace id its audit record already names, so the console's trace link finds the trace.
 */
export const nextTraceId: { value: string | undefined } = { value: undefined };

/** Names a span carries for a stage. */
const SPAN_NAMES: Record<StageName, string> = {
  authenticate: 'authenticate',
  authorize: 'authorize',
  audit_intent: 'audit intent',
  approval: 'approval',
  inject: 'inject secrets',
  forward: 'forward',
  scrub: 'scrub',
  audit_outcome: 'audit outcome',
};

/**
 * One span per agent call (continuing the agent's `traceparent`), one child per pipeline stage, and the
 * forward stage as the client span of the downstream request, whose context the downstream receives.
 * A request the downstream sends back towards the agent (sampling, elicitation, roots) is a client span
 * under the call's span. Attributes name methods, servers, tools, decisions and outcomes; never an
 * argument, result, secret or token, and the subject and task id only with `telemetry.includeIdentity`.
 */
export class TracingObserver implements PipelineObserver {
  /** Each call's span while it is open, for the requests relayed during it. */
  private readonly calls = new WeakMap<CallContext, Span>();

  constructor(
    private readonly tracer: Tracer,
    private readonly options: { includeIdentity: boolean },
  ) {}

  begin(ctx: CallContext, at: number): CallObservation {
    const parent = ctx.traceparent === undefined ? undefined : remoteContext(ctx.traceparent);
    const attributes: Attributes = {
      'mcp.method.name': ctx.method,
      'mcp.warden.ingress': ctx.ingress,
      'mcp.warden.request_id': ctx.requestId,
      'jsonrpc.request.id': String(ctx.jsonrpcId),
    };
    if (ctx.protocolVersion !== undefined) attributes['mcp.protocol.version'] = ctx.protocolVersion;
    if (ctx.server !== '') attributes['mcp.warden.server'] = ctx.server;
    const named = ctx.method === 'tools/call' || ctx.method === 'prompts/get';
    if (named && ctx.server !== '')
      attributes[ctx.method === 'tools/call' ? 'gen_ai.tool.name' : 'mcp.prompt.name'] = ctx.target;
    if (this.options.includeIdentity) {
      attributes['enduser.id'] = ctx.principal.subject;
      if (ctx.principal.task) attributes['mcp.warden.task_id'] = ctx.principal.task.id;
    }
    if (!parent) nextTraceId.value = ctx.traceId;
    let root: Span;
    try {
      root = this.tracer.startSpan(
        named && ctx.server !== '' ? `${ctx.method} ${ctx.target}` : ctx.method,
        { kind: SpanKind.SERVER, startTime: at, attributes },
        parent ?? ROOT_CONTEXT,
      );
    } finally {
      nextTraceId.value = undefined;
    }
    this.calls.set(ctx, root);
    return new CallSpans(this.tracer, root, ctx.server, at, () => this.calls.delete(ctx));
  }

  /** A relayed request: a client span under its call's span, or (between calls) the root of a trace of its own. */
  relay(ctx: RelayContext, at: number): RelayObservation {
    const call = ctx.parent && this.calls.get(ctx.parent);
    const attributes: Attributes = {
      'mcp.method.name': ctx.method,
      'mcp.warden.server': ctx.server,
      'mcp.warden.ingress': ctx.ingress,
      'mcp.warden.request_id': ctx.requestId,
    };
    if (ctx.protocolVersion !== undefined) attributes['mcp.protocol.version'] = ctx.protocolVersion;
    if (this.options.includeIdentity && ctx.principal) attributes['enduser.id'] = ctx.principal.subject;
    if (!call) nextTraceId.value = ctx.traceId;
    let span: Span;
    try {
      span = this.tracer.startSpan(
        ctx.method,
        { kind: SpanKind.CLIENT, startTime: at, attributes },
        call ? trace.setSpan(ROOT_CONTEXT, call) : ROOT_CONTEXT,
      );
    } finally {
      nextTraceId.value = undefined;
    }
    return {
      end: (end, status) => {
        span.setAttribute('mcp.warden.outcome', status);
        if (status !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: status });
        span.end(end);
      },
    };
  }

  /** A list request: one span, and one `authorize` child for the filtering of every item. */
  list(ctx: ListContext, at: number): ListObservation {
    const parent = ctx.traceparent === undefined ? undefined : remoteContext(ctx.traceparent);
    const attributes: Attributes = {
      'mcp.method.name': ctx.method,
      'mcp.warden.ingress': ctx.ingress,
      'mcp.warden.request_id': ctx.requestId,
    };
    if (ctx.protocolVersion !== undefined) attributes['mcp.protocol.version'] = ctx.protocolVersion;
    if (this.options.includeIdentity) attributes['enduser.id'] = ctx.principal.subject;
    const root = this.tracer.startSpan(
      ctx.method,
      { kind: SpanKind.SERVER, startTime: at, attributes },
      parent ?? ROOT_CONTEXT,
    );
    return {
      end: (end, result) => {
        this.tracer
          .startSpan(
            SPAN_NAMES.authorize,
            { startTime: at, kind: SpanKind.INTERNAL },
            trace.setSpan(ROOT_CONTEXT, root),
          )
          .end(end);
        root.setAttributes({
          'mcp.warden.shown': result.shown,
          'mcp.warden.hidden': result.hidden,
          'mcp.warden.refused': result.refused,
        });
        root.end(end);
      },
    };
  }
}

class CallSpans implements CallObservation {
  private readonly context: Context;
  private forwardSpan: Span | undefined;

  constructor(
    private readonly tracer: Tracer,
    private readonly root: Span,
    private readonly server: string,
    private last: number,
    private readonly ended: () => void,
  ) {
    this.context = trace.setSpan(ROOT_CONTEXT, root);
  }

  stage(stage: StageName, at: number): void {
    if (stage === 'forward' && this.forwardSpan) this.forwardSpan.end(at);
    else
      this.tracer.startSpan(SPAN_NAMES[stage], { startTime: this.last, kind: SpanKind.INTERNAL }, this.context).end(at);
    this.last = at;
  }

  downstream(): string {
    const span = this.tracer.startSpan(
      SPAN_NAMES.forward,
      { startTime: this.last, kind: SpanKind.CLIENT, attributes: { 'mcp.warden.server': this.server } },
      this.context,
    );
    this.forwardSpan = span;
    const { traceId, spanId, traceFlags } = span.spanContext();
    return `00-${traceId}-${spanId}-${(traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '01' : '00'}`;
  }

  end(at: number, decision: Decision, status: CallStatus): void {
    this.root.setAttributes({
      'mcp.warden.decision': decision.effect,
      'mcp.warden.rule': decision.rule,
      'mcp.warden.outcome': status,
    });
    if (status === 'downstream_failed' || status === 'timeout') {
      this.root.setStatus({ code: SpanStatusCode.ERROR, message: status });
      this.forwardSpan?.setStatus({ code: SpanStatusCode.ERROR, message: status });
    }
    this.root.end(at);
    this.ended();
  }
}

function remoteContext(traceparent: string): Context | undefined {
  const match = TRACEPARENT.exec(traceparent);
  if (!match) return undefined;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: match[2]!,
    spanId: match[3]!,
    traceFlags: Number.parseInt(match[4]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  });
}
