// Every refusal the 2026-07-28 path can produce, by code: the gateway's governance denials stay out of the
// range the protocol reserves (-32020..-32099), and a downstream's error in that range is re-worded
// (save MissingRequiredClientCapability, which names what the agent must declare).
import { describe, expect, it } from 'vitest';
import { denialToWire, type Denial } from '../../src/pipeline/denial.js';
import { eraError, isReservedCode } from '../../src/ingress/stateless-answers.js';

/** One denial of every kind: a new kind fails the typecheck here until it is added. */
const DENIALS: { [K in Denial['kind']]: Extract<Denial, { kind: K }> } = {
  unauthenticated: { kind: 'unauthenticated', reason: 'r' },
  unknown_tool: { kind: 'unknown_tool', name: 'x', reason: 'r' },
  unknown_prompt: { kind: 'unknown_prompt', name: 'x', reason: 'r' },
  unknown_resource: { kind: 'unknown_resource', uri: 'x://y', reason: 'r' },
  forbidden: { kind: 'forbidden', reason: 'r' },
  needs_task: { kind: 'needs_task', name: 'x', reason: 'r' },
  approval_required: { kind: 'approval_required', reason: 'r', approval: { id: 'a', expiresAt: 0, status: 'pending' } },
  rate_limited: { kind: 'rate_limited', retryAfterSeconds: 1, reason: 'r' },
  unapproved_definition: {
    kind: 'unapproved_definition',
    definition: 'tool',
    name: 'x',
    status: 'pending',
    reason: 'r',
  },
  audit_unavailable: { kind: 'audit_unavailable', reason: 'r' },
  store_unavailable: { kind: 'store_unavailable', reason: 'r' },
  secret_unavailable: { kind: 'secret_unavailable', secret: 's', reason: 'r' },
  invalid_params: { kind: 'invalid_params', message: 'm', reason: 'r' },
  server_unavailable: { kind: 'server_unavailable', server: 's', reason: 'r' },
  timeout: { kind: 'timeout', server: 's', timeoutMs: 1, reason: 'r' },
  downstream_closed: { kind: 'downstream_closed', server: 's', reason: 'r' },
  downstream_error: { kind: 'downstream_error', server: 's', code: -32042, message: 'm', reason: 'r' },
};

describe('refusal codes seen by 2026-07-28 agents', () => {
  it.each(Object.values(DENIALS).map((d) => [d.kind, d] as const))(
    '%s never uses the reserved -32020..-32099 range',
    (_kind, denial) => {
      const wire = denialToWire(denial);
      const seen = eraError({ code: wire.code, message: wire.message, data: wire.data });
      expect(isReservedCode(seen.code)).toBe(false);
    },
  );

  it.each([
    [-32002, -32602],
    [-32020, -32000],
    [-32021, -32021],
    [-32042, -32000],
    [-32099, -32000],
    [-32019, -32019],
    [-32100, -32100],
    [-32603, -32603],
  ])('a session answer with code %i reaches a 2026 agent as %i', (code, expected) => {
    expect(eraError({ code, message: 'm' }).code).toBe(expected);
  });

  it("passes a server's MissingRequiredClientCapability through (it names what the agent must declare), keeping only object entries", () => {
    expect(
      eraError({
        code: -32021,
        message: 'needs sampling',
        data: { requiredCapabilities: { sampling: {}, roots: 'yes' }, other: 1 },
      }),
    ).toEqual({ code: -32021, message: 'needs sampling', data: { requiredCapabilities: { sampling: {} } } });
    expect(eraError({ code: -32021, message: 'm', data: ['sampling'] }).data).toEqual({ requiredCapabilities: {} });
  });

  it('keeps a re-worded downstream code and data for the agent to read', () => {
    expect(eraError({ code: -32042, message: 'go there', data: { url: 'u' } })).toEqual({
      code: -32000,
      message: 'go there',
      data: { serverCode: -32042, serverData: { url: 'u' } },
    });
  });
});
