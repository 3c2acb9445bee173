import { LIST_VERDICT } from '../model/list-verdict.js';
import type {
  DecisionClass,
  ListReplayRecord,
  Missing,
  RecordedRequests,
  ReplayRecord,
} from '../pipeline/replay-records.js';
import type { AuthorizeRequest, Decision } from '../pipeline/stages.js';
import { PolicyAuthorizer } from './authorizer.js';
import type { CompiledPolicy } from './compile.js';
import { activeTask, kindOf, scopeOf } from './evaluate.js';
import type { AuditReplayReport, ChangeKind, ReplayChange, ReplayReport, ReplaySummary } from './replay-report.js';

/** Changes kept per rule unless told otherwise: enough to review, bounded however much history changed. */
export const DEFAULT_CHANGES_PER_GROUP = 1_000;

/**
 * Replays recorded requests (read back by the audit stage) against `policy`: calls oldest first (rate
 * limits count in order), then list requests (which no rate limit counts). The report, and what was read
 * but not replayed.
 */
export function replayRecorded(
  policy: CompiledPolicy,
  recorded: RecordedRequests,
  perGroup?: number,
): AuditReplayReport {
  const replay = new PolicyReplay(policy, perGroup);
  for (const record of recorded.calls) replay.add(record);
  for (const record of recorded.lists()) replay.addList(record);
  return {
    ...replay.report(),
    notReplayed: recorded.callsNotReplayed(),
    listsNotReplayed: recorded.listsNotReplayed(),
  };
}

/**
 * Replays recorded requests against a proposed policy, in the order they happened. Each request goes
 * through the gateway's own authorize stage (`PolicyAuthorizer`: the pure evaluator, then rate limits
 * counted on a clock that is the record's start time, then approval), so a replayed decision is the one
 * that policy would have made. Offline and pure: no server is contacted, nothing is written.
 */
export class PolicyReplay {
  private readonly authorizer: PolicyAuthorizer;
  private readonly summary: ReplaySummary = {
    evaluated: 0,
    unchanged: 0,
    changed: 0,
    newlyDenied: 0,
    newlyAllowed: 0,
    newlyNeedsApproval: 0,
    noLongerNeedsApproval: 0,
    newlyRateLimited: 0,
    noLongerRateLimited: 0,
    lists: 0,
    listsChanged: 0,
    newlyHidden: 0,
    newlyVisible: 0,
    partial: 0,
  };
  private readonly groups = new Map<string, { count: number; changes: ReplayChange[] }>();

  constructor(
    private readonly policy: CompiledPolicy,
    private readonly perGroup = DEFAULT_CHANGES_PER_GROUP,
  ) {
    this.authorizer = new PolicyAuthorizer({ current: policy });
  }

  /** Replays one record (records must come oldest first); returns the change, if its decision changed. */
  add(record: ReplayRecord): ReplayChange | undefined {
    const request: AuthorizeRequest = {
      principal: record.principal,
      method: record.method,
      server: record.server,
      target: record.target,
      ...(record.arguments !== undefined && { arguments: record.arguments }),
      ...(record.definitionHash !== undefined && { definitionHash: record.definitionHash }),
    };
    const decision = this.authorizer.authorize(request, record.startedAt);
    const now = classOf(decision);
    const old = record.recorded.class;
    const partial = record.missing.length > 0 ? this.dependsOn(record, request, now) : [];
    this.summary.evaluated += 1;
    if (partial.length > 0) this.summary.partial += 1;
    const kind = changeKind(old, now);
    if (!kind) {
      this.summary.unchanged += 1;
      return undefined;
    }
    this.summary.changed += 1;
    this.summary[COUNTER[kind]] += 1;
    const change: ReplayChange = {
      id: record.id,
      startedAt: record.startedAt,
      method: record.method,
      server: record.server,
      target: record.target,
      subject: record.principal.subject,
      ...(record.principal.task && { taskId: record.principal.task.id }),
      kind,
      old: { class: old, rule: record.recorded.rule, reason: record.recorded.reason },
      new: { class: now, rule: decision.rule, reason: decision.reason },
      ...(partial.length > 0 && { partial }),
    };
    this.keep(decision.rule, change);
    return change;
  }

  /**
   * Replays one list request: each of its items decided again for the same principal at the same
   * instant. An item the policy allowed counts as visible even where a pin held it back (pins are not
   * policy). Returns the items newly hidden or newly shown. Lists never count against a rate limit.
   */
  addList(record: ListReplayRecord): ReplayChange[] {
    const changes: ReplayChange[] = [];
    const { principal } = record;
    for (let i = 0; i < record.items.length; i += 1) {
      const item = record.items[i]!;
      const verdict = record.verdicts[i];
      const decision = this.authorizer.authorize(
        { principal, method: record.method, server: item.server, target: item.target },
        record.startedAt,
      );
      const was = verdict !== LIST_VERDICT.hidden;
      if (was === (decision.effect === 'allow')) continue;
      const kind: ChangeKind = was ? 'newly-hidden' : 'newly-visible';
      this.summary[COUNTER[kind]] += 1;
      const change: ReplayChange = {
        id: record.id,
        startedAt: record.startedAt,
        method: record.method,
        server: item.server,
        target: item.target,
        subject: principal.subject,
        ...(principal.task && { taskId: principal.task.id }),
        kind,
        old: {
          class: was ? 'allow' : 'deny',
          reason:
            verdict === LIST_VERDICT.shown
              ? 'shown'
              : verdict === LIST_VERDICT.held
                ? 'allowed, held back by its definition pin'
                : 'not shown',
        },
        new: { class: classOf(decision), rule: decision.rule, reason: decision.reason },
        ...(record.missing.length > 0 && { partial: record.missing }),
      };
      this.keep(decision.rule, change);
      changes.push(change);
    }
    this.summary.evaluated += 1;
    this.summary.lists += 1;
    if (record.missing.length > 0) this.summary.partial += 1;
    if (changes.length === 0) {
      this.summary.unchanged += 1;
    } else {
      this.summary.changed += 1;
      this.summary.listsChanged += 1;
    }
    return changes;
  }

  private keep(rule: string, change: ReplayChange): void {
    let group = this.groups.get(rule);
    if (!group) {
      group = { count: 0, changes: [] };
      this.groups.set(rule, group);
    }
    group.count += 1;
    if (group.changes.length < this.perGroup) group.changes.push(change);
  }

  report(): ReplayReport {
    return {
      policyVersion: this.policy.version,
      summary: { ...this.summary },
      groups: [...this.groups].map(([rule, group]) => ({ rule, count: group.count, changes: [...group.changes] })),
    };
  }

  /**
   * Of what the record lacks, what the decision depended on: stored arguments that are cut or blanked
   * matter when an argument constraint is written for this target and this agent; unrecorded task
   * grants when the request ran inside a task; an unrecorded approval or rate-limit state when the
   * proposed policy asks for approval or limits the rate.
   */
  private dependsOn(record: ReplayRecord, request: AuthorizeRequest, now: DecisionClass): Missing[] {
    const out: Missing[] = [];
    for (const missing of record.missing) {
      switch (missing) {
        case 'arguments-truncated':
        case 'arguments-redacted':
          if (this.argumentRuleFor(request)) out.push(missing);
          break;
        case 'task-grants':
          if (activeTask(record.principal.task, record.startedAt)) out.push(missing);
          break;
        case 'approval-state':
          if (now === 'approval' || now === 'rate_limited') out.push(missing);
          break;
      }
    }
    return out;
  }

  /** Whether any rule with an argument schema is written for this target and can apply to this agent. */
  private argumentRuleFor(request: AuthorizeRequest): boolean {
    if (request.method !== 'tools/call' && request.method !== 'prompts/get') return false;
    const kind = kindOf(request);
    const scope = scopeOf(this.policy, request.principal);
    return this.policy.entries.some(
      (entry) =>
        entry.grant.checkArguments !== undefined &&
        (entry.owner === -1 || scope.matched[entry.owner] === true) &&
        entry.grant.targets[kind]?.test(request.target) === true,
    );
  }
}

const COUNTER: Record<ChangeKind, keyof ReplaySummary> = {
  'newly-denied': 'newlyDenied',
  'newly-allowed': 'newlyAllowed',
  'newly-needs-approval': 'newlyNeedsApproval',
  'no-longer-needs-approval': 'noLongerNeedsApproval',
  'newly-rate-limited': 'newlyRateLimited',
  'no-longer-rate-limited': 'noLongerRateLimited',
  'newly-hidden': 'newlyHidden',
  'newly-visible': 'newlyVisible',
};

/** The class of a decision made by the authorize stage. */
export function classOf(decision: Decision): DecisionClass {
  if (decision.effect === 'allow') return decision.approvalRequired ? 'approval' : 'allow';
  return decision.refusal?.kind === 'rate_limited' ? 'rate_limited' : 'deny';
}

/** How a decision changed, from the caller's point of view; undefined when it did not. */
export function changeKind(old: DecisionClass, now: DecisionClass): ChangeKind | undefined {
  if (old === now) return undefined;
  switch (now) {
    case 'deny':
      return 'newly-denied';
    case 'rate_limited':
      return 'newly-rate-limited';
    case 'approval':
      return 'newly-needs-approval';
    case 'allow':
      if (old === 'approval') return 'no-longer-needs-approval';
      if (old === 'rate_limited') return 'no-longer-rate-limited';
      return 'newly-allowed';
  }
}
