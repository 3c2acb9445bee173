import type { Principal } from '../model/principal.js';
import type { ListMethod } from './context.js';
import type { AuthorizeRequest } from './stages.js';

/*
 * Recorded requests as a policy replay reads them: the audit stage reads them back from its log
 * (src/audit/replay-source.ts), the policy stage decides them again (src/policy/replay.ts), and the
 * caller (the cli, the console) joins the two.
 */

/**
 * What a decision amounted to for the caller: allowed, allowed once a person approves, refused by a
 * rate limit, or denied. Replay compares these, not reason texts.
 */
export type DecisionClass = 'allow' | 'approval' | 'rate_limited' | 'deny';

/** What a record lacks for a faithful replay (recorded before it was kept, or cut when stored). */
export type Missing =
  'arguments-truncated' | 'arguments-redacted' | 'task-grants' | 'approval-state' | 'names-redacted';

/** One recorded request, as the audit source reads it back. */
export interface ReplayRecord {
  id: string;
  startedAt: number;
  method: AuthorizeRequest['method'];
  server: string;
  target: string;
  principal: Principal;
  arguments?: Record<string, unknown>;
  definitionHash?: string;
  recorded: { effect: 'allow' | 'deny'; rule: string; reason: string; class: DecisionClass };
  /** What was not recorded; it makes a replay partial only where a constraint depended on it. */
  missing: readonly Missing[];
}

/**
 * One recorded list request (src/audit/list-record.ts): who asked, and each item the policy in force
 * decided on with its verdict (a `ListVerdict`: hidden, shown, or held back by a pin after the policy
 * allowed it). Items are those of the replay's server and tool filter.
 */
export interface ListReplayRecord {
  id: string;
  startedAt: number;
  method: ListMethod;
  principal: Principal;
  items: readonly { readonly server: string; readonly target: string }[];
  verdicts: ArrayLike<number>;
  /** `names-redacted`: an item's name was cleaned by the egress stage before it was stored. */
  missing: readonly Missing[];
}

/** List records read but not replayed: pages after the first (decided with it), and lists whose catalog is gone (pruned). */
export interface ListsNotReplayed {
  pages: number;
  noCatalog: number;
}

/** Recorded requests in range, streamed oldest first: calls, then lists (read only once the calls are done). */
export interface RecordedRequests {
  calls: Iterable<ReplayRecord>;
  lists(): Iterable<ListReplayRecord>;
  /** Calls read so far and left out because no policy made their decision (an expired credential, an unknown name). */
  callsNotReplayed(): number;
  listsNotReplayed(): ListsNotReplayed;
}
