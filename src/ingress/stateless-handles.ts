// Task handles presented by 2026-07-28 agents, and a 2026 request refused before it ran (recorded, then
// answered). A handle is a name, not a capability: it is re-authorized against the principal presenting it.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Gateway } from '../gateway/gateway.js';
import type { Principal } from '../model/principal.js';
import type { Logger } from '../observe/logger.js';
import type { CallContext, CallMethod, Ingress } from '../pipeline/context.js';
import { INVALID_PARAMS, handleKeyOf, isCallMethod, isObject, targetOf } from './stateless-answers.js';
import type { Answer } from './in-process-transport.js';
import { STATELESS_VERSIONS, type EnvelopeRefusal, type StatelessRequest } from './stateless-envelope.js';

/** The `_meta` key under which a 2026 agent presents a task handle: `{"warden": {"task": "<id>"}}`. */
const HANDLE_KEY = 'warden';

export interface HandleDeps {
  gateway: Gateway;
  logger: Logger;
  ingress: Ingress;
}

/**
 * A task handle in `_meta.warden.task`, re-authorized against the principal presenting it (same
 * issuer, subject and tenant; not ended, revoked or expired; within the token's own task grants): the
 * request then runs inside that task. A handle that does not resolve is refused, and recorded when the
 * request names a target; every failure reads the same to the agent. The `warden` key is the gateway's
 * and is never forwarded.
 */
export async function presentedTask(
  deps: HandleDeps,
  principal: Principal,
  request: StatelessRequest,
): Promise<{ principal: Principal; request: StatelessRequest } | { error: { code: number; message: string } }> {
  const meta = request.params._meta as Record<string, unknown> | undefined;
  if (meta === undefined || !(HANDLE_KEY in meta)) return { principal, request };
  const { [HANDLE_KEY]: value, ...rest } = meta;
  const { _meta: _m, ...plain } = request.params;
  const stripped = { ...request, params: Object.keys(rest).length > 0 ? { ...plain, _meta: rest } : plain };
  const id = isObject(value) && typeof value.task === 'string' ? value.task : undefined;
  const governance = deps.gateway.governance;
  const resolved =
    id === undefined
      ? { ok: false as const, reason: '_meta.warden is not {"task": "<handle>"}' }
      : governance === undefined
        ? { ok: false as const, reason: 'no policy: there are no tasks' }
        : await governance.registry.resolveHandle(id, principal, handleKeyOf(principal), governance.clock.now());
  if (resolved.ok) return { principal: { ...principal, task: resolved.task }, request: stripped };
  const message =
    id === undefined
      ? 'Invalid params: _meta.warden must be {"task": "<task handle>"}'
      : `Invalid task handle: ${id} (unknown, ended, expired, revoked or not yours)`;
  const target = targetOf(stripped);
  if (target !== undefined && isCallMethod(request.method))
    await deps.gateway.pipeline.refuse(
      refusalContext(deps.ingress, principal, request.method, target, request.id, request.version),
      { kind: 'invalid_params', message, reason: `task handle refused: ${resolved.reason}` },
    );
  deps.logger.warn({ subject: principal.subject, method: request.method }, `task handle refused: ${resolved.reason}`);
  return { error: { code: INVALID_PARAMS, message } };
}

/** The task handle a request presents in `_meta.warden.task`, if any (read before `presentedTask` takes it off). */
export function handleOf(request: StatelessRequest): string | undefined {
  const value = (request.params._meta as Record<string, unknown> | undefined)?.[HANDLE_KEY];
  return isObject(value) && typeof value.task === 'string' ? value.task : undefined;
}

/** A request refused before it ran, as the audit records it: under the body's target. */
export function refusalContext(
  ingress: Ingress,
  principal: Principal,
  method: CallMethod,
  target: string,
  id: string | number | null,
  version: string | undefined,
): CallContext {
  return {
    requestId: randomUUID(),
    ingress,
    protocolVersion: version ?? STATELESS_VERSIONS[0]!,
    jsonrpcId: id ?? '',
    traceId: randomBytes(16).toString('hex'),
    principal,
    method,
    server: '',
    target,
    downstreamTarget: target,
    startedAt: Date.now(),
  };
}

/** A request refused before it ran: recorded under the body's target when it names one; the error to answer. */
export async function refuseRequest(deps: HandleDeps, principal: Principal, refusal: EnvelopeRefusal): Promise<Answer> {
  if (refusal.target !== undefined && isCallMethod(refusal.method)) {
    // Recorded under the body's target (what would have run), the header's claim in the reason.
    const ctx = refusalContext(deps.ingress, principal, refusal.method, refusal.target, refusal.id, refusal.version);
    await deps.gateway.pipeline.refuse(ctx, {
      kind: 'invalid_params',
      message: refusal.message,
      reason: `2026-07-28 request refused (${refusal.code}): ${refusal.message}`,
    });
  }
  deps.logger.warn({ subject: principal.subject, code: refusal.code, method: refusal.method }, refusal.message);
  return {
    error: {
      code: refusal.code,
      message: refusal.message,
      ...(refusal.data !== undefined && { data: refusal.data }),
    },
  };
}
