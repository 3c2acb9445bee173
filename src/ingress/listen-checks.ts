// What a 2026 listen stream (listen.ts) decides on each change: whether its principal may still listen,
// and what that principal sees of a list kind, as one string to compare with what it saw before.
import type { Governance } from '../gateway/governance.js';
import type { Aggregate, ListKind } from '../model/catalog.js';
import type { Principal, TaskRef } from '../model/principal.js';
import type { ListMethod } from '../pipeline/context.js';

/** Why a stream ends (or is refused), for the agent and for the record. */
export interface Ending {
  /** What the agent is told (nothing a policy hides). */
  message: string;
  /** What the record says. */
  reason: string;
}

/** Whether the principal may see one list entry now (the pipeline's unrecorded `shows`). */
export type Shows = (method: ListMethod, server: string, target: string, definitionHash?: string) => boolean;

/**
 * Why this principal may no longer listen, or the task its handle resolves to now: the credential
 * expired; the agent, the token or the token's task revoked (`token` is the principal before any
 * handle); the token's task expired; the presented task handle no longer resolves (ended, expired,
 * revoked, not this principal's). The revocation snapshot is synced first, so a revocation written by
 * another process (or replica) counts as soon as it is readable.
 */
export async function listenEnding(input: {
  governance: Governance | undefined;
  now: number;
  principal: Principal;
  token: Principal;
  handle?: string;
  handleKey: (principal: Principal) => string;
}): Promise<Ending | { task?: TaskRef }> {
  const { governance, now, principal, token, handle } = input;
  if (principal.expiresAt !== undefined && principal.expiresAt <= now)
    return { message: 'Unauthorized: the credential expired; listen again with a fresh token', reason: 'expired' };
  if (governance === undefined) return {};
  governance.registry.sync(now);
  const revoked = governance.registry.revocationOf(token);
  if (revoked !== undefined)
    return { message: 'Forbidden: the credential, its agent or its task was revoked', reason: revoked };
  if (handle === undefined) {
    const task = principal.task;
    if (task?.expiresAt !== undefined && task.expiresAt <= now)
      return { message: 'Forbidden: the task of this credential expired', reason: `task ${task.id} expired` };
    return {};
  }
  const resolved = await governance.registry.resolveHandle(handle, token, input.handleKey(token), now);
  if (!resolved.ok)
    return {
      message: `Invalid task handle: ${handle} (unknown, ended, expired, revoked or not yours)`,
      reason: `task handle: ${resolved.reason}`,
    };
  return { task: resolved.task };
}

/**
 * What the principal sees of one list kind, in list order: tool and prompt names with their
 * definition hashes (a changed definition is a change), resource URIs and templates with their names.
 */
export function viewSignature(view: Aggregate, kind: ListKind, shows: Shows): string {
  const shown: string[] = [];
  if (kind === 'tools' || kind === 'prompts') {
    const method = kind === 'tools' ? 'tools/list' : 'prompts/list';
    for (const routed of view[kind].values())
      if (shows(method, routed.server, routed.item.name, routed.definitionHash))
        shown.push(`${routed.item.name}\u0000${routed.definitionHash}`);
    return shown.join('\n');
  }
  for (const { server, item } of view.resources.values())
    if (shows('resources/list', server, item.uri)) shown.push(`${item.uri}\u0000${item.name}`);
  for (const { server, item } of view.templates)
    if (shows('resources/templates/list', server, item.uriTemplate))
      shown.push(`template\u0000${item.uriTemplate}\u0000${item.name}`);
  return shown.join('\n');
}
