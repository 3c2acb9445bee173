/**
 * What a 2026-07-28 agent declared in one request's `_meta` that a 2026 server should hear again on the
 * request the gateway forwards for it: the client capabilities (only what the gateway can relay back to
 * this agent) and the log level. Built by the stateless ingress, read by the downstream client.
 */
export interface RequestEnvelope {
  clientCapabilities: Record<string, unknown>;
  /** Absent: the agent asked for no log messages, so the server is asked for none. */
  logLevel?: string;
}

/**
 * The agent's declared capabilities cut to what the gateway relays (`relayable`): a key is kept only
 * when both sides have it as an object, and inside it only the sub-keys both have, to any depth (a
 * relayable `{}` keeps the kind and none of its sub-features). An agent's `elicitation: {}` means form
 * mode (2025-11-25 onwards), so it is read as `{form: {}}` first; an elicitation left with no mode the
 * gateway relays is dropped, never sent as the empty object that would claim form mode.
 */
export function relayableCapabilities(
  declared: Record<string, unknown>,
  relayable: Record<string, unknown>,
): Record<string, unknown> {
  const agent = isEmptyObject(declared.elicitation) ? { ...declared, elicitation: { form: {} } } : declared;
  const kept = intersect(agent, relayable);
  if (isObject(kept.elicitation) && isObject(relayable.elicitation) && !isEmptyObject(relayable.elicitation)) {
    if (isEmptyObject(kept.elicitation)) delete kept.elicitation;
  }
  return kept;
}

function intersect(declared: Record<string, unknown>, relayable: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, allowed] of Object.entries(relayable)) {
    const value = declared[key];
    if (allowed === true) {
      if (value === true) out[key] = true;
    } else if (isObject(allowed) && isObject(value)) out[key] = intersect(value, allowed);
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEmptyObject(value: unknown): boolean {
  return isObject(value) && Object.keys(value).length === 0;
}
