import type { DecisionClass, ListsNotReplayed, Missing } from '../pipeline/replay-records.js';

/* What a policy replay reports (src/policy/replay.ts), read by the cli and the console alike. */

export type ChangeKind =
  | 'newly-denied'
  | 'newly-allowed'
  | 'newly-needs-approval'
  | 'no-longer-needs-approval'
  | 'newly-rate-limited'
  | 'no-longer-rate-limited'
  | 'newly-hidden'
  | 'newly-visible';

export interface ReplayChange {
  id: string;
  startedAt: number;
  method: string;
  server: string;
  target: string;
  subject: string;
  taskId?: string;
  kind: ChangeKind;
  /** A list item's record holds whether it was shown, not the rule that decided: `rule` is then absent. */
  old: { class: DecisionClass; rule?: string; reason: string };
  new: { class: DecisionClass; rule: string; reason: string };
  /** Set when the replay ran on incomplete data that a constraint depended on. */
  partial?: readonly Missing[];
}

export interface ReplaySummary {
  evaluated: number;
  unchanged: number;
  changed: number;
  newlyDenied: number;
  newlyAllowed: number;
  newlyNeedsApproval: number;
  noLongerNeedsApproval: number;
  newlyRateLimited: number;
  noLongerRateLimited: number;
  /** Of `evaluated`, list requests; of `changed`, those in which some item is newly hidden or shown. */
  lists: number;
  listsChanged: number;
  /** List items (one per list request that showed it) the proposed policy would hide, or would show. */
  newlyHidden: number;
  newlyVisible: number;
  /** Records replayed on incomplete data that a constraint depended on (changed or not). */
  partial: number;
}

export interface ReplayReport {
  policyVersion: string;
  summary: ReplaySummary;
  /**
   * Changed decisions grouped by the rule that now decides, groups in order of first appearance. Each
   * group counts all its changes and keeps the first `perGroup` of them.
   */
  groups: { rule: string; count: number; changes: ReplayChange[] }[];
}

/** A replay of the recorded requests: the report, and what was read but could not be replayed. */
export type AuditReplayReport = ReplayReport & { notReplayed: number; listsNotReplayed: ListsNotReplayed };

/** How each kind of change reads, for the CLI and the console alike. */
export const CHANGE_LABELS: Readonly<Record<ChangeKind, string>> = {
  'newly-denied': 'newly denied',
  'newly-allowed': 'newly allowed',
  'newly-needs-approval': 'newly needs approval',
  'no-longer-needs-approval': 'no longer needs approval',
  'newly-rate-limited': 'newly rate-limited',
  'no-longer-rate-limited': 'no longer rate-limited',
  'newly-hidden': 'newly hidden from the list',
  'newly-visible': 'newly shown in the list',
};
