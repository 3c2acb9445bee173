import type { Principal } from '../model/principal.js';
import type { DecisionClass, Missing, RecordedRequests, ReplayRecord } from '../pipeline/replay-records.js';
import type { AuthorizeRequest } from '../pipeline/stages.js';
import { listSource } from './list-source.js';
import { where } from './queries.js';
import { internPrincipal, type PrincipalBody, type ReplayFilter } from './replay-read.js';
import { isTruncated, REDACTED } from '../model/stored-value.js';
import type { Db } from './store.js';

/**
 * The recorded requests (intents) a policy decided: calls, reads, gets, completions and subscriptions.
 * List requests are recorded as `list.shown` events instead and read by src/audit/list-source.ts.
 */
export const REPLAYED_METHODS: readonly AuthorizeRequest['method'][] = [
  'tools/call',
  'resources/read',
  'prompts/get',
  'completion/complete',
  'resources/subscribe',
  'resources/unsubscribe',
];

/** Decisions no policy made: an expired credential, or a name no server answers to. They are not replayed. */
const NOT_POLICY = new Set(['authentication', 'routing']);

export interface ReplaySource {
  records: Iterable<ReplayRecord>;
  /** Read so far and left out because no policy made their decision. */
  skipped(): number;
}

interface IntentBody extends PrincipalBody {
  v?: number;
  toolHash?: string;
  arguments?: unknown;
  argumentsPartial?: ('redacted' | 'truncated')[];
  decision?: { effect: 'allow' | 'deny'; rule: string; reason: string; approvalRequired?: boolean; refusal?: string };
}

/** A row as read: an array (raw mode), cheaper than an object per row over a million rows. */
type Row = [id: string, startedAt: number, type: string, server: string | null, target: string | null, body: string];

/**
 * Reads recorded requests back for a policy replay, oldest first, streamed: the principal, task (with
 * its grants and expiry), delegation, arguments as stored, definition hash and the decision recorded.
 * Records written before intent body v2 lack the task's grants, the approval and rate-limit state and
 * the claims; what a record lacks is listed in `missing`.
 */
export function replaySource(db: Db, filter: ReplayFilter): ReplaySource {
  const params: unknown[] = [];
  const clauses = where('d', filter, params, true);
  const methods = REPLAYED_METHODS.map(() => '?').join(', ');
  const sql = `SELECT d.id, d.started_at, d.type, d.server, d.target, d.body FROM entries d
    WHERE d.kind = 'intent' AND d.type IN (${methods})${clauses.map((c) => ` AND ${c}`).join('')} ORDER BY d.started_at, d.seq`;
  const statement = db.prepare<unknown[], Row>(sql).raw(true);
  let skipped = 0;
  const principals = new Map<string, Principal>();
  function* read(): Generator<ReplayRecord> {
    for (const row of statement.iterate(...REPLAYED_METHODS, ...params)) {
      const record = recordOf(row, principals);
      if (record) yield record;
      else skipped += 1;
    }
  }
  return { records: read(), skipped: () => skipped };
}

/**
 * Every recorded request matching the filter, for a policy replay (src/policy/replay.ts): calls, then
 * list requests (src/audit/list-source.ts), each streamed oldest first.
 */
export function recordedRequests(db: Db, filter: ReplayFilter): RecordedRequests {
  const calls = replaySource(db, filter);
  let lists: ReturnType<typeof listSource> | undefined;
  return {
    calls: calls.records,
    lists: () => {
      const principals = new Map<string, Principal>();
      lists = listSource(db, filter, (body, revoked) => internPrincipal(body, revoked, principals));
      return lists.records;
    },
    callsNotReplayed: calls.skipped,
    listsNotReplayed: () => lists?.notReplayed() ?? { pages: 0, noCatalog: 0 },
  };
}

function recordOf(row: Row, principals: Map<string, Principal>): ReplayRecord | undefined {
  const [id, startedAt, type, server, target, text] = row;
  const body = JSON.parse(text) as IntentBody;
  const decision = body.decision;
  if (!decision || !body.principal || target === null || NOT_POLICY.has(decision.rule)) return undefined;
  const v2 = (body.v ?? 1) >= 2;
  const missing: Missing[] = [];
  const principal = internPrincipal(body, decision.rule === 'revoked' ? decision.reason : undefined, principals);
  if (!v2 && body.task) missing.push('task-grants');
  if (!v2) missing.push('approval-state');

  let args: Record<string, unknown> | undefined;
  if (
    body.arguments !== undefined &&
    body.arguments !== null &&
    typeof body.arguments === 'object' &&
    !Array.isArray(body.arguments)
  ) {
    if (isTruncated(body.arguments)) {
      missing.push('arguments-truncated');
      args = {};
    } else {
      args = body.arguments as Record<string, unknown>;
      const redacted = v2 ? body.argumentsPartial?.includes('redacted') === true : text.includes(REDACTED);
      if (redacted) missing.push('arguments-redacted');
    }
  }
  return {
    id,
    startedAt,
    method: type as AuthorizeRequest['method'],
    server: server ?? '',
    target,
    principal,
    ...(args !== undefined && { arguments: args }),
    ...(body.toolHash !== undefined && { definitionHash: body.toolHash }),
    recorded: { effect: decision.effect, rule: decision.rule, reason: decision.reason, class: recordedClass(decision) },
    missing,
  };
}

/** What the recorded decision amounted to. A definition refused by its pin was allowed by the policy: pins are not policy. */
function recordedClass(decision: NonNullable<IntentBody['decision']>): DecisionClass {
  if (decision.rule === 'integrity' || decision.refusal === 'unapproved_definition') return 'allow';
  if (decision.effect === 'allow') return decision.approvalRequired ? 'approval' : 'allow';
  return decision.refusal === 'rate_limited' ? 'rate_limited' : 'deny';
}
