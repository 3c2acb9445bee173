import type { Principal, TaskRef } from '../model/principal.js';
import type { RecordFilter } from './queries.js';

/* What both readers of recorded requests for a policy replay share (replay-source.ts, list-source.ts). */

export type ReplayFilter = Pick<RecordFilter, 'since' | 'until' | 'agent' | 'server' | 'tool'>;

/** The principal, task and delegation as intents and list records store them. */
export interface PrincipalBody {
  principal?: {
    subject: string;
    issuer: string;
    clientId?: string;
    tenant?: string;
    authMethod: Principal['authMethod'];
    scopes?: string[];
    claims?: Record<string, string | string[]>;
  };
  task?: {
    id: string;
    purpose?: string;
    grants?: string[];
    within?: string[];
    expiresAt?: number;
    source?: TaskRef['source'];
  };
  delegation?: string[];
}

/** Principals are shared between the records that carry the same one, so the evaluator's per-principal memo serves them all. */
const MAX_PRINCIPALS = 100_000;

export function internPrincipal(
  body: PrincipalBody,
  revoked: string | undefined,
  principals: Map<string, Principal>,
): Principal {
  const p = body.principal!;
  const t = body.task;
  // Plain concatenation: a JSON.stringify per record cost a tenth of a replay. Claims are rare; they alone are serialised.
  const key = `${p.subject}\u0000${p.issuer}\u0000${p.clientId}\u0000${p.tenant}\u0000${p.authMethod}\u0000${p.scopes?.join('\u0001')}\u0000${p.claims === undefined ? '' : JSON.stringify(p.claims)}\u0000${t ? `${t.id}\u0001${t.grants?.join('\u0001')}\u0001${t.within?.join('\u0001')}\u0001${t.expiresAt}` : ''}\u0000${body.delegation?.join('\u0001')}\u0000${revoked}`;
  const known = principals.get(key);
  if (known) return known;
  const task: TaskRef | undefined = body.task && {
    id: body.task.id,
    ...(body.task.purpose !== undefined && { purpose: body.task.purpose }),
    ...(body.task.grants !== undefined && { grants: body.task.grants }),
    ...(body.task.within !== undefined && { within: body.task.within }),
    ...(body.task.expiresAt !== undefined && { expiresAt: body.task.expiresAt }),
    ...(body.task.source !== undefined && { source: body.task.source }),
  };
  const principal: Principal = {
    subject: p.subject,
    issuer: p.issuer,
    authMethod: p.authMethod,
    scopes: p.scopes ?? [],
    delegation: body.delegation ?? [],
    ...(p.clientId !== undefined && { clientId: p.clientId }),
    ...(p.tenant !== undefined && { tenant: p.tenant }),
    ...(p.claims !== undefined && { claims: p.claims }),
    ...(task && { task }),
    ...(revoked !== undefined && { revoked }),
  };
  if (principals.size >= MAX_PRINCIPALS) principals.clear();
  principals.set(key, principal);
  return principal;
}
