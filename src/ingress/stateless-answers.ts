// How the gateway words its answers to 2026-07-28 (stateless) agents, whatever carries them (HTTP or
// stdio): which methods are served, resultType and cache hints on results, error codes for the era, and
// the small lookups (visible servers, task-handle key, a request's target) the request path needs. Pure.
import { VERSION } from '../gateway/agent-session.js';
import { principalKey, type Principal } from '../model/principal.js';
import type { CallMethod } from '../pipeline/context.js';
import type { Answer } from './in-process-transport.js';
import { MISSING_CAPABILITY } from './request-rounds.js';
import { SERVER_INFO_KEY, type StatelessRequest } from './stateless-envelope.js';

/** Methods served to 2026 clients so far; the rest answer -32601 until they are built and tested. */
const SERVED = new Set([
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
  'subscriptions/listen',
]);
/** Methods 2026-07-28 removed (their 2026 requests are answered 404/-32601 like an unknown method). */
const REMOVED = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);

/** The -32601 answer to a method the 2026 path does not serve (removed in 2026-07-28, or not built yet). */
export function unservedAnswer(method: string): Answer | undefined {
  if (method === 'server/discover' || SERVED.has(method)) return undefined;
  return {
    error: {
      code: -32601,
      message: REMOVED.has(method)
        ? `Method not found: ${method} was removed in 2026-07-28`
        : `Method not found: ${method} is not served to 2026-07-28 clients`,
    },
  };
}

/**
 * What the pooled session's downstream connections declare: every kind the gateway can turn into an
 * `input_required` round. Whether a given request's round may carry one is the agent's own `_meta`
 * declaration, checked when the server asks (request-rounds.ts).
 */
export const RELAY_CAPABILITIES = { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } };

/**
 * The requests whose result may be `input_required` at 2026-07-28 (multi-round-trip requests): a server
 * may ask the agent for sampling, elicitation or roots during them.
 */
export const ROUNDS: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'resources/read']);
/** Results that carry cache hints: every list, and resources/read. */
const CACHED = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);
/**
 * Cache hints on every list and read. Lists are filtered per principal by policy and reads are
 * authorized per principal (so `private`). A policy reload or a revocation can come at any instant and
 * the gateway cannot tell whether the client caching an answer listens (subscriptions/listen), so the
 * only TTL that cannot outlive one for a client that does not is 0: never reuse, ask again. A client
 * that listens is told of the change instead (docs/architecture.md, Cache hints).
 */
export const LIST_CACHE = { ttlMs: 0, cacheScope: 'private' } as const;
/** 2025's "resource not found"; 2026-07-28 answers an unknown resource with -32602 (invalid params). */
const RESOURCE_NOT_FOUND_2025 = -32002;
export const INVALID_PARAMS = -32602;
/** JSON-RPC's generic server error, outside the range 2026-07-28 reserves. */
const SERVER_ERROR = -32000;
/**
 * What a 2026 agent is told the gateway serves (the per-principal part is the instructions). Changes of
 * every list, and updates of resources named in a listen filter, travel on `subscriptions/listen`.
 */
export const CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  completions: {},
} as const;
export const SERVER_INFO = { name: 'mcp-warden', version: VERSION };
const NAMESPACE = '__';

/** Every 2026 result says whether it is complete or asks for input (an MRTR round), and who answered. */
export function shape(method: string, result: Record<string, unknown>): Record<string, unknown> {
  const meta =
    typeof result._meta === 'object' && result._meta !== null ? (result._meta as Record<string, unknown>) : {};
  const inputRequired = result.resultType === 'input_required';
  return {
    ...result,
    ...(CACHED.has(method) && !inputRequired && LIST_CACHE),
    resultType: inputRequired ? 'input_required' : 'complete',
    _meta: { ...meta, [SERVER_INFO_KEY]: SERVER_INFO },
  };
}

/**
 * An error as 2026-07-28 words it. A resource not found is -32602 (the gateway's own and a downstream's).
 * Codes -32020..-32099 are reserved for the protocol's own errors (header mismatch, missing capability,
 * unsupported version…) and the gateway's refusals never use them; a downstream's error in that range
 * (a 2025 server's -32042, say) would read as a protocol error of the gateway, so it reaches a 2026
 * agent as -32000 with the server's code in `data.serverCode`.
 */
export function eraError(error: { code: number; message: string; data?: unknown }): {
  code: number;
  message: string;
  data?: unknown;
} {
  if (error.code === RESOURCE_NOT_FOUND_2025) return { ...error, code: INVALID_PARAMS };
  if (error.code === MISSING_CAPABILITY) return missingCapabilityError(error);
  if (isReservedCode(error.code))
    return {
      code: SERVER_ERROR,
      message: error.message,
      data: { serverCode: error.code, ...(error.data !== undefined && { serverData: error.data }) },
    };
  return error;
}

/**
 * A MissingRequiredClientCapability error (the gateway's, or a 2026 server's about the capabilities the
 * agent declared) reaches the agent as itself: it names what the agent must declare. Only
 * `requiredCapabilities` entries that are objects are kept from a server's data.
 */
function missingCapabilityError(error: { code: number; message: string; data?: unknown }): {
  code: number;
  message: string;
  data: { requiredCapabilities: Record<string, unknown> };
} {
  const named = isObject(error.data) ? error.data.requiredCapabilities : undefined;
  const required = isObject(named) ? Object.entries(named).filter(([, value]) => isObject(value)) : [];
  return {
    code: MISSING_CAPABILITY,
    message: error.message,
    data: { requiredCapabilities: Object.fromEntries(required) },
  };
}

/** The JSON-RPC codes MCP 2026-07-28 reserves for protocol errors. */
export function isReservedCode(code: number): boolean {
  return code <= -32020 && code >= -32099;
}

/** Servers the principal sees at least one tool of: by prefix, and unprefixed servers for unprefixed names. */
export function visibleServers(
  servers: readonly { id: string; prefix: string | false }[],
  toolNames: readonly string[],
): Set<string> {
  const visible = new Set<string>();
  const prefixed = servers.filter((s): s is { id: string; prefix: string } => s.prefix !== false);
  for (const name of toolNames) {
    const owner = prefixed.find((s) => name.startsWith(`${s.prefix}${NAMESPACE}`));
    if (owner) visible.add(owner.id);
    else for (const s of servers) if (s.prefix === false) visible.add(s.id);
  }
  return visible;
}

/** What a task handle is bound to: the principal's issuer, subject and tenant, as the pool keys it. */
export function handleKeyOf(principal: Principal): string {
  return `2026:${principalKey(principal)}`;
}

/** The body's tool name, prompt name or resource URI, for the methods that name one. */
export function targetOf(request: StatelessRequest): string | undefined {
  const value = request.method === 'resources/read' ? request.params.uri : request.params.name;
  return typeof value === 'string' ? value : undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isCallMethod(method: string | undefined): method is CallMethod {
  return method === 'tools/call' || method === 'prompts/get' || method === 'resources/read';
}
