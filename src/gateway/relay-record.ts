import { randomUUID } from 'node:crypto';
import { pooledRandomHex } from '../model/random.js';
import type { Principal } from '../model/principal.js';
import type { CallContext, ClientInfo, Ingress, RelayContext, RelayMethod } from '../pipeline/context.js';
import type { Pipeline } from '../pipeline/orchestrator.js';

export interface RelayOrigin {
  pipeline: Pipeline;
  ingress: Ingress;
  sessionId: string | undefined;
  protocolVersion?: string;
  clientInfo: ClientInfo | undefined;
  server: string;
  /** The agent's call the request arrived during; absent between calls. */
  parent?: CallContext;
  /** Between calls: the principal of the session's latest request, else the session's owner. */
  principal: Principal | undefined | Promise<Principal | undefined>;
}

/** A relay-link recorder: each server→client request goes through the pipeline's `relay` step. */
export function relayRecorder(origin: () => RelayOrigin) {
  return async (request: { method: string; params?: unknown }, send: () => Promise<unknown>): Promise<unknown> => {
    const o = origin();
    const principal = o.parent?.principal ?? (await o.principal);
    const ctx: RelayContext = {
      requestId: randomUUID(),
      ingress: o.ingress,
      ...(o.sessionId !== undefined && { sessionId: o.sessionId }),
      ...(o.protocolVersion !== undefined && { protocolVersion: o.protocolVersion }),
      traceId: o.parent?.traceId ?? pooledRandomHex(16),
      ...(o.clientInfo && { clientInfo: o.clientInfo }),
      method: request.method as RelayMethod,
      server: o.server,
      ...(o.parent && { parent: o.parent }),
      params: (request.params ?? {}) as Record<string, unknown>,
      startedAt: o.pipeline.now(),
    };
    if (principal) ctx.principal = principal;
    return o.pipeline.relay(ctx, send);
  };
}
