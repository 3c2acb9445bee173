import type { Principal } from '../model/principal.js';
import type { CompiledPolicy, IndexEntry } from './compile.js';
import { activeTask, evaluate, kindOf, scopeOf, type Evaluation, type EvaluationRequest } from './evaluate.js';

export interface RuleTrace {
  ruleId: string;
  effect: 'allow' | 'deny';
  source: string;
  /** Who the rule is for: every agent, or an agent entry (and the role it came through). */
  owner: string;
  /** Whether it applied to this request, and if not, why not. */
  status: string;
  applies: boolean;
}

export interface Explanation {
  evaluation: Evaluation;
  agents: string[];
  task: string;
  rules: RuleTrace[];
}

/**
 * Why a request gets its decision: the decision itself (from `evaluate`, so the two cannot disagree),
 * the agent entries the principal matches, and every rule written for this target with whether it
 * applied. Pure, like the evaluator; only for tooling (it is not on the request path).
 */
export function explain(policy: CompiledPolicy, request: EvaluationRequest, now: number): Explanation {
  const evaluation = evaluate(policy, request, now);
  const scope = scopeOf(policy, request.principal);
  const kind = kindOf(request);
  const task = activeTask(request.principal.task, now);
  const checksArguments = request.method === 'tools/call' || request.method === 'prompts/get';
  const rules: RuleTrace[] = [];
  for (const entry of policy.entries) {
    if (!entry.grant.targets[kind]?.test(request.target)) continue;
    if (entry.owner !== -1 && !scope.matched[entry.owner]) continue;
    rules.push(trace(policy, entry, { task: task !== undefined, checksArguments, args: request.arguments ?? {} }));
  }
  return { evaluation, agents: scope.agentIds, task: describeTask(request.principal, now), rules };
}

function trace(
  policy: CompiledPolicy,
  entry: IndexEntry,
  ctx: { task: boolean; checksArguments: boolean; args: Record<string, unknown> },
): RuleTrace {
  const grant = entry.grant;
  const owner =
    entry.owner === -1
      ? 'every agent'
      : `agent ${policy.agents[entry.owner]!.id}${entry.role ? `, role ${entry.role}` : ''}`;
  const base = { ruleId: grant.ruleId, effect: grant.effect, source: grant.source, owner };
  if (grant.taskOnly && !ctx.task) return { ...base, applies: false, status: 'only inside a task' };
  if (grant.checkArguments) {
    if (!ctx.checksArguments) {
      return grant.effect === 'deny'
        ? { ...base, applies: false, status: 'argument rule (checked on calls)' }
        : { ...base, applies: true, status: 'applies (arguments are checked on calls)' };
    }
    if (!grant.checkArguments(ctx.args))
      return { ...base, applies: false, status: `arguments do not match: ${grant.checkArguments.errors()}` };
  }
  const extras = [
    grant.approval ? 'approval required' : '',
    grant.rateLimit ? `rate limit ${grant.rateLimit.calls}/${grant.rateLimit.perSeconds}s` : '',
  ].filter(Boolean);
  return { ...base, applies: true, status: `applies${extras.length > 0 ? ` (${extras.join(', ')})` : ''}` };
}

function describeTask(principal: Principal, now: number): string {
  const task = principal.task;
  if (!task) return 'none';
  const grants = task.grants ? `grants ${task.grants.join(', ')}` : 'no narrowing';
  const expired = activeTask(task, now) ? '' : ' (expired)';
  return `${task.id}: ${grants}${expired}`;
}

/** The explanation as aligned lines for a terminal. */
export function formatExplanation(
  policy: CompiledPolicy,
  request: EvaluationRequest,
  explanation: Explanation,
): string[] {
  const e = explanation.evaluation;
  const lines = [
    `decision  ${e.effect}${e.approval && e.effect === 'allow' ? ' (approval required)' : ''}${e.refusal ? ` (refused as ${e.refusal})` : ''}`,
    `rule      ${e.rule}`,
    `reason    ${e.reason}`,
    `policy    ${policy.version} (${policy.files.join(', ')})`,
    `agent     ${explanation.agents.length > 0 ? `matches ${explanation.agents.join(', ')}` : 'matches no agent entry'}`,
    `task      ${explanation.task}`,
  ];
  if (e.rateLimits.length > 0)
    lines.push(
      `limits    ${e.rateLimits.map((l) => `${l.ruleId}: ${l.limit.calls} per ${l.limit.perSeconds}s`).join('; ')}`,
    );
  if (explanation.rules.length === 0) {
    lines.push(`rules     none written for ${request.target} (for this agent)`);
    return lines;
  }
  lines.push(`rules for ${request.target}:`);
  const idWidth = Math.max(...explanation.rules.map((r) => r.ruleId.length));
  for (const rule of explanation.rules) {
    lines.push(
      `  ${rule.effect.padEnd(5)}  ${rule.ruleId.padEnd(idWidth)}  ${rule.status}  [${rule.owner}; ${rule.source}]`,
    );
  }
  return lines;
}
