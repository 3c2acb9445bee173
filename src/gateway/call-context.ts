import { randomUUID } from 'node:crypto';
import { pooledRandomHex } from '../model/random.js';
import type { Principal } from '../model/principal.js';
import type { AskUser, CallContext, CallMethod, ClientInfo, Ingress } from '../pipeline/context.js';
import { traceIdOf, validTraceparent } from '../observe/trace-context.js';

/**
 * One request to be governed, in plain values: what an ingress or a session knows about it. No SDK
 * type appears here, so a path that never builds an SDK `extra` builds the same context.
 */
export interface CallRequest {
  ingress: Ingress;
  sessionId?: string;
  /** The protocol version the request's session negotiated, or the one a stateless request carries. */
  protocolVersion?: string;
  /** The client as it describes itself: recorded, never decides. Only name and version are kept. */
  clientInfo?: ClientInfo;
  jsonrpcId: string | number;
  method: CallMethod;
  /** The downstream server id ('' when refused before a server was chosen). */
  server: string;
  /** The name or URI as the agent sees it. */
  target: string;
  /** The same name as the server knows it. */
  downstreamTarget: string;
  arguments?: Record<string, unknown>;
  /** The agent's `traceparent`, unchecked: kept only when it is valid W3C trace context. */
  traceparent?: unknown;
  /** The agent's cancellation of this request. */
  signal?: AbortSignal;
  askUser?: AskUser;
  /** The hash of the definition the route was taken from: what a pin or an approval covers, and what is recorded. */
  definitionHash?: string;
}

/**
 * The pipeline's `CallContext` for one request: a fresh request id, the agent's trace id (else a new
 * one), and `startedAt` from `now`, the pipeline's injected clock, which also measures the duration.
 */
export function buildCallContext(principal: Principal, request: CallRequest, now: () => number): CallContext {
  const traceparent = validTraceparent(request.traceparent);
  const info = request.clientInfo;
  const ctx: CallContext = {
    requestId: randomUUID(),
    ingress: request.ingress,
    sessionId: request.sessionId,
    jsonrpcId: request.jsonrpcId,
    ...(request.protocolVersion !== undefined && { protocolVersion: request.protocolVersion }),
    traceId: traceparent ? traceIdOf(traceparent) : pooledRandomHex(16),
    ...(traceparent && { traceparent }),
    principal,
    ...(info && { clientInfo: { name: info.name, version: info.version } }),
    method: request.method,
    server: request.server,
    target: request.target,
    downstreamTarget: request.downstreamTarget,
    ...(request.arguments && { arguments: request.arguments }),
    startedAt: now(),
    ...(request.signal && { signal: request.signal }),
    ...(request.askUser && { askUser: request.askUser }),
  };
  if (request.definitionHash !== undefined) {
    ctx.definitionHash = request.definitionHash;
    ctx.toolHash = request.definitionHash;
  }
  return ctx;
}

/** The agent's trace context: `_meta.traceparent` on the request, else its `traceparent` HTTP header. */
export function requestTraceparent(
  meta: unknown,
  headers?: Readonly<Record<string, string | string[] | undefined>>,
): string | undefined {
  const fromMeta =
    typeof meta === 'object' && meta !== null ? (meta as { traceparent?: unknown }).traceparent : undefined;
  return validTraceparent(fromMeta) ?? validTraceparent(headers?.traceparent);
}
