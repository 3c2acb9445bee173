import type { Principal, TaskRef } from '../model/principal.js';
import type { AuthorizeRequest } from '../pipeline/stages.js';
import type { CompiledPolicy } from '../policy/compile.js';
import {
  PolicyReplay,
  type DecisionClass,
  type ListReplayRecord,
  type Missing,
  type ReplayRecord,
  type ReplayReport,
} from '../policy/replay.js';
import { listSource, type ListsNotReplayed } from './list-source.js';
import { where, type RecordFilter } from './queries.js';
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

/** What `replayAudit` returns: the replay's report, and what was read but could not be replayed. */
export type AuditReplayReport = ReplayReport & { notReplayed: number; listsNotReplayed: ListsNotReplayed };

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

export type ReplayFilter = Pick<RecordFilter, 'since' | 'until' | 'agent' | 'server' | 'tool'>;

/**
 * Replays every recorded request matching the filter against `policy`, calls oldest first (rate limits
 * count in order), then list requests (which no rate limit counts): the report, and what was not replayed.
 */
export function replayAudit(
  db: Db,
  policy: CompiledPolicy,
  filter: ReplayFilter,
  perGroup?: number,
): AuditReplayReport {
  const replay = new PolicyReplay(policy, perGroup);
  const source = replaySource(db, filter);
  for (const record of source.records) replay.add(record);
  const principals = new Map<string, Principal>();
  const lists = listSource(db, filter, (body, revoked) => internPrincipal(body, revoked, principals));
  for (const record of lists.records) replay.addList(record satisfies ListReplayRecord);
  return { ...replay.report(), notReplayed: source.skipped(), listsNotReplayed: lists.notReplayed() };
}

/** Principals are shared between the records that carry the same one, so the evaluator's per-principal memo serves them all. */
const MAX_PRINCIPALS = 100_000;

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

function internPrincipal(
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
