import type { JWTPayload } from 'jose';
import type { ActorRef, AuthMethod, Principal, TaskRef } from '../model/principal.js';
import { globCovers } from '../model/glob.js';

/** Claims the gateway understands beyond the registered ones. */
export interface WardenClaims extends JWTPayload {
  azp?: string;
  client_id?: string;
  tenant?: string;
  scope?: string;
  scp?: string[];
  task?: { id?: unknown; purpose?: unknown; grants?: unknown };
  /** RFC 8693 actor; the gateway also records the parent's grants and expiry in it for delegations. */
  act?: ActorClaim;
}

export interface ActorClaim {
  sub?: string;
  exp?: number;
  /** The actor's token id, issue time and task id: a revocation of any of them reaches the delegate. */
  jti?: string;
  iat?: number;
  task_id?: string;
  grants?: string[];
  act?: ActorClaim;
}

const MAX_CHAIN = 8;

export type ClaimsResult = { ok: true; principal: Principal } | { ok: false; reason: string };

/** Builds a Principal from verified claims, checking what jose does not know about (task, delegation). */
export function principalFromClaims(claims: WardenClaims, authMethod: AuthMethod): ClaimsResult {
  // A NUL reaches no decision: keys joined with NUL (caches) must not be forgeable from a claim, and
  // PostgreSQL's text cannot hold one (a task or audit row would fail to be written).
  if (containsNul(claims)) return { ok: false, reason: 'a claim contains a NUL character' };
  if (typeof claims.sub !== 'string' || claims.sub.length === 0 || claims.sub.length > 256)
    return { ok: false, reason: 'sub missing or invalid' };
  const task = taskOf(claims.task);
  if (task === null) return { ok: false, reason: 'task claim malformed' };
  const delegation: string[] = [];
  const actors: ActorRef[] = [];
  let actor = claims.act;
  while (actor !== undefined) {
    if (typeof actor !== 'object' || actor === null || typeof actor.sub !== 'string')
      return { ok: false, reason: 'act claim malformed' };
    if (delegation.length >= MAX_CHAIN) return { ok: false, reason: 'delegation chain too long' };
    delegation.push(actor.sub);
    actors.push({
      subject: actor.sub,
      ...(typeof actor.jti === 'string' && { tokenId: actor.jti }),
      ...(typeof actor.task_id === 'string' && { taskId: actor.task_id }),
      ...(typeof actor.iat === 'number' && { issuedAt: actor.iat * 1000 }),
    });
    actor = actor.act;
  }
  const narrowing = checkDelegation(claims, task);
  if (narrowing) return { ok: false, reason: narrowing };
  const scopes =
    typeof claims.scope === 'string'
      ? claims.scope.split(' ').filter(Boolean)
      : Array.isArray(claims.scp)
        ? claims.scp.filter((s) => typeof s === 'string')
        : [];
  const clientId =
    typeof claims.azp === 'string' ? claims.azp : typeof claims.client_id === 'string' ? claims.client_id : undefined;
  const principal: Principal = {
    subject: claims.sub,
    issuer: String(claims.iss),
    delegation,
    ...(actors.length > 0 && { actors }),
    scopes,
    authMethod,
    ...(clientId !== undefined && { clientId }),
    ...(typeof claims.tenant === 'string' && { tenant: claims.tenant }),
    ...(task && { task }),
    ...(typeof claims.jti === 'string' && { tokenId: claims.jti }),
    ...(typeof claims.exp === 'number' && { expiresAt: claims.exp * 1000 }),
    ...(typeof claims.iat === 'number' && { issuedAt: claims.iat * 1000 }),
    claims: extraClaims(claims),
  };
  return { ok: true, principal };
}

const MAPPED_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'azp',
  'client_id',
  'tenant',
  'scope',
  'scp',
  'task',
  'act',
]);

/** String and string-array claims beyond the mapped ones (capped), for policy matchers such as `claims: {team: "ops"}`. */
function extraClaims(claims: WardenClaims): Record<string, string | readonly string[]> {
  const out: Record<string, string | readonly string[]> = {};
  let count = 0;
  for (const [name, value] of Object.entries(claims)) {
    if (MAPPED_CLAIMS.has(name) || name === '__proto__' || count >= 32) continue;
    if (typeof value === 'string' && value.length <= 512) out[name] = value;
    else if (Array.isArray(value) && value.length <= 64 && value.every((v) => typeof v === 'string' && v.length <= 512))
      out[name] = value as string[];
    else continue;
    count += 1;
  }
  return out;
}

function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > 2 * MAX_CHAIN) return false;
  return Object.entries(value).some(([key, item]) => key.includes('\u0000') || containsNul(item, depth + 1));
}

function taskOf(raw: WardenClaims['task']): TaskRef | undefined | null {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || typeof raw.id !== 'string') return null;
  const grants = raw.grants;
  if (grants !== undefined && (!Array.isArray(grants) || grants.some((g) => typeof g !== 'string'))) return null;
  return {
    id: raw.id,
    ...(typeof raw.purpose === 'string' && { purpose: raw.purpose }),
    ...(grants !== undefined && { grants: grants as string[] }),
  };
}

/**
 * A delegated token may only narrow: its grants must be covered by the parent's and it may not outlive
 * it. The parent's grants and expiry travel in `act` (set by `mcp-warden token issue --parent`).
 */
export function checkDelegation(claims: WardenClaims, task: TaskRef | undefined): string | undefined {
  const parent = claims.act;
  if (!parent) return undefined;
  if (typeof parent.exp === 'number' && typeof claims.exp === 'number' && claims.exp > parent.exp)
    return 'delegated token outlives its parent';
  if (parent.grants !== undefined) {
    const grants = task?.grants;
    if (grants === undefined) return 'delegated token must name its grants';
    const widened = grants.find((g) => !parent.grants!.some((p) => globCovers(p, g)));
    if (widened) return `delegated token widens grant ${widened}`;
  }
  return undefined;
}
