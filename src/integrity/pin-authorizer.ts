import type { Principal } from '../model/principal.js';
import type { Authorizer, AuthorizeRequest, Decision } from '../pipeline/stages.js';
import type { PinRegistry } from './registry.js';
import type { DefinitionKind } from './types.js';

/**
 * The authorize step with definition pins on top: after the policy allows a call or a list entry, a
 * tool or prompt whose definition is not the approved one is refused (a call: its own wire error that
 * says why and what a reviewer runs; a list: hidden). A policy deny is returned unchanged, so a tool
 * the policy hides still reads as unknown, quarantined or not.
 */
export class PinAuthorizer implements Authorizer {
  constructor(
    private readonly inner: Authorizer,
    private readonly pins: PinRegistry,
  ) {}

  /** The inner key and the pins' generation, read after looking for changes other processes made. */
  listKey(principal: Principal, now: number): string | undefined {
    const inner = this.inner.listKey?.(principal, now);
    if (inner === undefined) return undefined;
    this.pins.sync(now);
    return `${inner}\u0000pins:${this.pins.generation}`;
  }

  /** Present when the inner authorizer decides calls asynchronously (rate limits in the shared store). */
  get authorizeCall(): ((request: AuthorizeRequest, now: number) => Promise<Decision>) | undefined {
    const inner = this.inner.authorizeCall?.bind(this.inner);
    if (!inner) return undefined;
    return async (request, now) => this.pinned(request, await inner(request, now), now);
  }

  authorize(request: AuthorizeRequest, now: number): Decision {
    return this.pinned(request, this.inner.authorize(request, now), now);
  }

  private pinned(request: AuthorizeRequest, decision: Decision, now: number): Decision {
    if (decision.effect === 'deny') return decision;
    const kind = kindOf(request);
    if (!kind) return decision;
    const verdict = this.pins.verdict(request.server, kind, request.target, request.definitionHash, now);
    if (verdict.ok) return decision;
    return {
      effect: 'deny',
      rule: 'integrity',
      reason: verdict.reason,
      ...(decision.policyVersion !== undefined && { policyVersion: decision.policyVersion }),
      refusal: {
        kind: 'unapproved_definition',
        definition: kind,
        name: request.target,
        status: verdict.status,
        ...(verdict.cause && { cause: verdict.cause }),
      },
    };
  }
}

function kindOf(request: AuthorizeRequest): DefinitionKind | undefined {
  switch (request.method) {
    case 'tools/call':
    case 'tools/list':
      return 'tool';
    case 'prompts/get':
    case 'prompts/list':
      return 'prompt';
    case 'completion/complete':
      // A prompt name never contains ':'; a resource URI always has a scheme.
      return request.target.includes(':') ? undefined : 'prompt';
    default:
      return undefined;
  }
}
