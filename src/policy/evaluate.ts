import type { Principal, TaskRef } from '../model/principal.js';
import type { AuthorizeRequest } from '../pipeline/stages.js';
import { TASK_SERVER, isTaskTool } from '../model/task-names.js';
import type { CompiledPolicy, IndexEntry, KindIndex, TargetKind } from './compile.js';
import { GlobSet } from '../model/glob.js';
import type { RateLimit } from './schema.js';

export type EvaluationRequest = Pick<AuthorizeRequest, 'principal' | 'method' | 'server' | 'target' | 'arguments'>;

export interface AppliedRateLimit {
  ruleId: string;
  limit: RateLimit;
}

/** The outcome of evaluating one request against a compiled policy. Pure data. */
export interface Evaluation {
  effect: 'allow' | 'deny';
  /** The rule that decided: a grant's id, or `default-deny`, `task-scope`, `task-required`, `revoked`, `builtin:task-tools`. */
  rule: string;
  reason: string;
  policyVersion: string;
  /**
   * A deny that must not read as "unknown": `forbidden` when the target is visible to the caller but
   * these arguments are not allowed; `revoked` when the agent or its task has been revoked;
   * `needs_task` when a grant of the caller's own policy would allow it inside a task.
   */
  refusal?: 'forbidden' | 'revoked' | 'needs_task';
  /** A deny outside a task that an allow grant would lift inside one: that grant (the reason names it too). */
  allowsInTask?: string;
  /** An allow grant that applies requires a person's approval. */
  approval: boolean;
  /** Every rate limit of an allow grant that applies (each counts separately). */
  rateLimits: readonly AppliedRateLimit[];
}

const NO_LIMITS: readonly AppliedRateLimit[] = Object.freeze([]);
const NO_ENTRIES: readonly IndexEntry[] = Object.freeze([]);

interface Scope {
  matched: boolean[];
  agentIds: string[];
  /** `agent a, b` (or that no entry matches), for reasons. */
  agentLabel: string;
  requireTask: boolean;
  /** The wildcard rules of each kind that can apply to this principal (its agent entries' and every agent's). */
  wildcards: Record<TargetKind, WildcardIndex>;
}

type Wildcard = KindIndex['wildcard'][number];

/**
 * A principal's wildcard rules of one kind, bucketed by the namespace their glob fixes. A glob whose
 * literal start (before the first `*`) contains `__` can only match names whose first `__` is at the
 * same place, so `notes__read*` is only tried on `notes__…` names; the others are tried on every name.
 * With 1,000 tools and 100 rules, listing tries a few rules per tool instead of all of them.
 */
interface WildcardIndex {
  anyServer: readonly Wildcard[];
  byServer: Map<string, Wildcard[]>;
  /** Per namespace: its bucket merged with `anyServer` in the original order (built on first use). */
  merged: Map<string, readonly Wildcard[]>;
  position: Map<Wildcard, number>;
}

function wildcardIndex(list: readonly Wildcard[]): WildcardIndex {
  const anyServer: Wildcard[] = [];
  const byServer = new Map<string, Wildcard[]>();
  const position = new Map<Wildcard, number>();
  for (const wildcard of list) {
    position.set(wildcard, position.size);
    const literal = wildcard.glob.slice(0, wildcard.glob.indexOf('*'));
    const separator = literal.indexOf('__');
    if (separator < 0) {
      anyServer.push(wildcard);
      continue;
    }
    const key = literal.slice(0, separator);
    const bucket = byServer.get(key);
    if (bucket) bucket.push(wildcard);
    else byServer.set(key, [wildcard]);
  }
  return { anyServer, byServer, merged: new Map(), position };
}

/** The wildcard rules that can match `target`, in declaration order. */
function wildcardsFor(index: WildcardIndex, target: string): readonly Wildcard[] {
  const separator = target.indexOf('__');
  if (separator < 0) return index.anyServer;
  const key = target.slice(0, separator);
  const bucket = index.byServer.get(key);
  if (!bucket) return index.anyServer; // nothing cached for names no rule fixes: the memo stays bounded by the policy
  let merged = index.merged.get(key);
  if (!merged) {
    merged = [...index.anyServer, ...bucket].sort((a, b) => index.position.get(a)! - index.position.get(b)!);
    index.merged.set(key, merged);
  }
  return merged;
}

// Memo tables: the agent entries a principal matches (per policy), and compiled task grants. Neither changes a result.
const scopes = new WeakMap<CompiledPolicy, WeakMap<Principal, Scope>>();
const taskGlobs = new WeakMap<readonly string[], GlobSet>();

/**
 * Decides one request. Pure: no I/O, the clock is passed in. Deny wins over allow whatever the order,
 * and nothing is allowed that no grant allows. A task narrows (ceiling ∩ task grants), never widens.
 */
export function evaluate(policy: CompiledPolicy, request: EvaluationRequest, now: number): Evaluation {
  const principal = request.principal;
  if (principal.revoked !== undefined) return decided(policy, 'deny', 'revoked', principal.revoked, 'revoked');
  if (
    request.server === TASK_SERVER &&
    isTaskTool(request.target) &&
    (request.method === 'tools/call' || request.method === 'tools/list')
  ) {
    return decided(policy, 'allow', 'builtin:task-tools', 'the task meta-tools are open to every agent');
  }
  const scope = scopeOf(policy, principal);
  const task = activeTask(principal.task, now);
  if (scope.requireTask && !task) {
    return decided(
      policy,
      'deny',
      'task-required',
      `${scope.agentLabel} must declare a task first (warden__begin_task)`,
    );
  }

  const kind = kindOf(request);
  const target = request.target;
  const checksArguments = request.method === 'tools/call' || request.method === 'prompts/get';
  const args = request.arguments ?? {};

  let deny: IndexEntry | undefined;
  let hiddenByDeny = false;
  let allow: IndexEntry | undefined;
  let argumentsFailed: IndexEntry | undefined;
  let visible = false;
  let approval = false;
  let limits: AppliedRateLimit[] | undefined;
  let inTaskOnly: IndexEntry | undefined;

  const consider = (entry: IndexEntry): void => {
    if (entry.owner !== -1 && !scope.matched[entry.owner]) return;
    const grant = entry.grant;
    if (grant.taskOnly && !task) {
      if (grant.effect === 'allow' && (!inTaskOnly || grant.order < inTaskOnly.grant.order)) inTaskOnly = entry;
      return;
    }
    if (grant.effect === 'deny') {
      if (grant.checkArguments) {
        // A deny with an argument schema forbids the calls whose arguments match it; it never hides the target.
        if (!checksArguments || !grant.checkArguments(args)) return;
      } else {
        hiddenByDeny = true;
      }
      if (!deny || grant.order < deny.grant.order) deny = entry;
      return;
    }
    visible = true;
    if (grant.checkArguments && checksArguments && !grant.checkArguments(args)) {
      if (!argumentsFailed || grant.order < argumentsFailed.grant.order) argumentsFailed = entry;
      return;
    }
    if (!allow || grant.order < allow.grant.order) allow = entry;
    if (grant.approval) approval = true;
    if (grant.rateLimit && !limits?.some((l) => l.ruleId === grant.ruleId))
      (limits ??= []).push({ ruleId: grant.ruleId, limit: grant.rateLimit });
  };
  for (const entry of policy.index[kind].exact.get(target) ?? NO_ENTRIES) consider(entry);
  for (const wildcard of wildcardsFor(scope.wildcards[kind], target))
    if (wildcard.matches(target)) consider(wildcard.entry);

  const inTask =
    (!task?.grants || taskGrants(task.grants).test(target)) && (!task?.within || taskGrants(task.within).test(target));
  if (deny) {
    return decided(
      policy,
      'deny',
      deny.grant.ruleId,
      `deny grant ${deny.label}`,
      !hiddenByDeny && visible && inTask ? 'forbidden' : undefined,
    );
  }
  if (!inTask) return decided(policy, 'deny', 'task-scope', `${target} is not within the grants of task ${task!.id}`);
  if (allow) {
    const result = decided(policy, 'allow', allow.grant.ruleId, `allow grant ${allow.label}`);
    result.approval = approval;
    if (limits) result.rateLimits = limits;
    return result;
  }
  if (argumentsFailed) {
    const grant = argumentsFailed.grant;
    return decided(
      policy,
      'deny',
      grant.ruleId,
      `arguments do not satisfy ${argumentsFailed.label}: ${grant.checkArguments!.errors()}`,
      'forbidden',
    );
  }
  if (inTaskOnly) {
    // The one reason the audit, the console, `policy explain` and replay all show: what denied, and what would allow.
    const result = decided(
      policy,
      'deny',
      'default-deny',
      `no grant allows ${target} for ${scope.agentLabel} outside a task; allow grant ${inTaskOnly.label} allows it only inside a task (warden__begin_task with ${target})`,
      'needs_task',
    );
    result.allowsInTask = inTaskOnly.grant.ruleId;
    return result;
  }
  return decided(policy, 'deny', 'default-deny', `no grant allows ${target} for ${scope.agentLabel}`);
}

function decided(
  policy: CompiledPolicy,
  effect: 'allow' | 'deny',
  rule: string,
  reason: string,
  refusal?: Evaluation['refusal'],
): Evaluation {
  const result: Evaluation = {
    effect,
    rule,
    reason,
    policyVersion: policy.version,
    approval: false,
    rateLimits: NO_LIMITS,
  };
  if (refusal) result.refusal = refusal;
  return result;
}

/** Which kind of target a request is about. Completion refs are prompt names or resource URIs (names never hold `:`). */
export function kindOf(request: Pick<EvaluationRequest, 'method' | 'target'>): TargetKind {
  switch (request.method) {
    case 'tools/list':
    case 'tools/call':
      return 'tool';
    case 'prompts/list':
    case 'prompts/get':
      return 'prompt';
    case 'completion/complete':
      return request.target.includes(':') ? 'resource' : 'prompt';
    default:
      return 'resource';
  }
}

/** The task in force: none when it has expired (its tools are gone the moment it does). */
export function activeTask(task: TaskRef | undefined, now: number): TaskRef | undefined {
  if (!task) return undefined;
  return task.expiresAt !== undefined && task.expiresAt <= now ? undefined : task;
}

/** The agent entries a principal matches, memoised per principal object. */
export function scopeOf(policy: CompiledPolicy, principal: Principal): Scope {
  let table = scopes.get(policy);
  if (!table) {
    table = new WeakMap();
    scopes.set(policy, table);
  }
  let scope = table.get(principal);
  if (!scope) {
    const matched = policy.agents.map((agent) => agent.matches(principal));
    const agentIds = policy.agents.filter((_, i) => matched[i]).map((agent) => agent.id);
    const mine = (list: KindIndex['wildcard']) => list.filter((w) => w.entry.owner === -1 || matched[w.entry.owner]);
    scope = {
      matched,
      agentIds,
      agentLabel: agentIds.length > 0 ? `agent ${agentIds.join(', ')}` : 'an agent no entry matches',
      requireTask: policy.agents.some((agent, i) => matched[i] && agent.requireTask),
      wildcards: {
        tool: wildcardIndex(mine(policy.index.tool.wildcard)),
        prompt: wildcardIndex(mine(policy.index.prompt.wildcard)),
        resource: wildcardIndex(mine(policy.index.resource.wildcard)),
      },
    };
    table.set(principal, scope);
  }
  return scope;
}

function taskGrants(grants: readonly string[]): GlobSet {
  let set = taskGlobs.get(grants);
  if (!set) {
    set = new GlobSet(grants);
    taskGlobs.set(grants, set);
  }
  return set;
}
