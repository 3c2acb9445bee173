import type { Principal } from '../model/principal.js';

export type Ingress = 'stdio' | 'http';

/** Methods that run through the call pipeline (everything that reaches a downstream on an agent's behalf). */
export type CallMethod =
  | 'tools/call'
  | 'prompts/get'
  | 'resources/read'
  | 'resources/subscribe'
  | 'resources/unsubscribe'
  | 'completion/complete';

export type ListMethod = 'tools/list' | 'prompts/list' | 'resources/list' | 'resources/templates/list';

export interface ClientInfo {
  name: string;
  version: string;
}

/** What the agent asked for and who asked, built by the ingress and carried through every stage. */
export interface CallContext {
  /** The gateway's id for this request: on every log line about it. */
  requestId: string;
  ingress: Ingress;
  sessionId?: string;
  jsonrpcId: string | number;
  /** The protocol version the agent's session negotiated (initialize); absent before it did. */
  protocolVersion?: string;
  traceId: string;
  /** The agent's W3C trace context (`_meta.traceparent` or the HTTP header), when it sent a valid one: the gateway's span continues it. */
  traceparent?: string;
  principal: Principal;
  clientInfo?: ClientInfo;
  method: CallMethod;
  /** Owning downstream server id. */
  server: string;
  /** The name or URI as the agent sees it (namespaced tool or prompt name, or a resource URI). */
  target: string;
  /** The same name as the downstream knows it. */
  downstreamTarget: string;
  arguments?: Record<string, unknown>;
  startedAt: number;
  /** The agent's cancellation of this request. */
  signal?: AbortSignal;
  /** SHA-256 of the tool's pinned definition, once pinning knows it (for the record). */
  toolHash?: string;
  /** `sha256:` hash of the target's definition as its server presented it (src/integrity/hash.ts): approvals are bound to it. */
  definitionHash?: string;
  /** Asks the agent host's user on this request's own stream (form elicitation); absent when the agent did not declare it. */
  askUser?: AskUser;
}

/** One yes/no question to the person at the agent host: accept means yes. */
export type AskUser = (question: { message: string; timeoutMs: number }) => Promise<'accept' | 'decline' | 'cancel'>;

/**
 * Requests relayed between a downstream and the agent outside a call: each is recorded like a call. A
 * server's requests towards the agent (sampling, elicitation, roots), and the agent's follow-ups on a task
 * a governed `tools/call` created (`tasks/*`, src/gateway/task-relay.ts).
 */
export type RelayMethod =
  'sampling/createMessage' | 'elicitation/create' | 'roots/list' | 'tasks/get' | 'tasks/result' | 'tasks/cancel';

/** A downstream's request towards the agent, during one of the agent's calls (`parent`) or between calls. */
export interface RelayContext {
  requestId: string;
  ingress: Ingress;
  sessionId?: string;
  /** The protocol version the agent's session negotiated (initialize); absent before it did. */
  protocolVersion?: string;
  traceId: string;
  /** The caller the request is on behalf of; unknown only before the session's first request. */
  principal?: Principal;
  clientInfo?: ClientInfo;
  method: RelayMethod;
  /** The downstream server asking. */
  server: string;
  parent?: CallContext;
  /** The record id of a finished call this request follows up (a task's creating call): recorded as its parent. */
  parentRecordId?: string;
  params: Record<string, unknown>;
  startedAt: number;
}

export interface ListContext {
  requestId: string;
  ingress: Ingress;
  sessionId?: string;
  /** The protocol version the agent's session negotiated (initialize); absent before it did. */
  protocolVersion?: string;
  principal: Principal;
  method: ListMethod;
  /** Where the requested page starts (its cursor's offset): 0 for the first page. */
  offset?: number;
  /** The agent's W3C trace context, as for a call. */
  traceparent?: string;
}
