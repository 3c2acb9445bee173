import type { EntryInput } from '../audit/chain.js';
import type { Db } from '../audit/store.js';
import { failedOnly, refusedOnly, type RecordSummary } from '../audit/queries.js';

/** The console's feed filters: each maps to an indexed column of the intent (or outcome) entries. */
export interface FeedFilter {
  agent?: string;
  task?: string;
  server?: string;
  tool?: string;
  decision?: string;
  outcome?: string;
  since?: number;
  until?: number;
  /** Keyset cursor: records strictly older than (startedAt, seq). */
  before?: { startedAt: number; seq: number };
  limit: number;
}

export interface FeedRow extends RecordSummary {
  traceId: string | null;
  rule: string | null;
  /** A call held for approval: `pending`, `denied` or `expired` (the approval's state when it was refused). */
  approval: string | null;
}

const GLOB = /[*?[]/;

/**
 * Runs one statement of this file and returns its rows: on audit.db as written (`sqliteQuery`), on the
 * PostgreSQL store rewritten by `pgStatement` (src/audit/pg/reader.ts) with its numbers as numbers. The
 * statements are written once, for SQLite, in the subset that rewrite knows (table aliases on every
 * `json_extract` and on the outcome a `sum` counts).
 */
export type Query = <T>(sql: string, params: readonly unknown[]) => Promise<T[]>;

export function sqliteQuery(db: Db): Query {
  return <T>(sql: string, params: readonly unknown[]) => Promise.resolve(db.prepare(sql).all(...params) as T[]);
}

const COLUMNS = `i.seq AS intentSeq, o.seq AS outcomeSeq, i.id, i.started_at AS startedAt, o.ts AS endedAt, i.instance,
  i.type AS method, i.subject, i.task_id AS taskId, i.server, i.target, i.decision,
  COALESCE(o.outcome, 'pending') AS outcome, json_extract(o.body, '$.durationMs') AS durationMs,
  json_extract(i.body, '$.traceId') AS traceId, json_extract(i.body, '$.decision.rule') AS rule,
  json_extract(o.body, '$.approval.status') AS approval`;

/** Intents drive: every record, finished or not; a column filter uses that column's `(column, started_at)` index. */
const BY_INTENT = `SELECT ${COLUMNS} FROM entries i LEFT JOIN entries o ON o.id = i.id AND o.kind = 'outcome' WHERE i.kind = 'intent'`;
/** Outcomes drive when the outcome is the only column filter: `outcomes_failed (outcome, started_at)` serves filter and order (any outcome but ok). */
const BY_OUTCOME = `SELECT ${COLUMNS} FROM entries o JOIN entries i ON i.id = o.id AND i.kind = 'intent' WHERE o.kind = 'outcome'`;

/**
 * One page of records, newest first, by keyset (never OFFSET): the driving table's index serves both the
 * filter and the order, so a page costs about the same at any depth. The cursor is the driving entry's
 * (started_at, seq); it is only meaningful with the same filters.
 */
export async function feedPage(q: Query, filter: FeedFilter): Promise<{ rows: FeedRow[]; next?: string }> {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const text = (column: string, value: string | undefined) => {
    if (value === undefined || value === '') return;
    clauses.push(GLOB.test(value) ? `${column} GLOB ?` : `${column} = ?`);
    params.push(value);
  };
  const columnFilters = [filter.agent, filter.task, filter.server, filter.tool, filter.decision].some(
    (v) => v !== undefined && v !== '',
  );
  const byOutcome =
    !columnFilters && filter.outcome !== undefined && filter.outcome !== '' && filter.outcome !== 'pending';
  const d = byOutcome ? 'o' : 'i';
  text('i.subject', filter.agent);
  text('i.task_id', filter.task);
  text('i.server', filter.server);
  text('i.target', filter.tool);
  text('i.decision', filter.decision);
  // Restated so that the partial indexes of refused intents and failed outcomes can serve (migration 5).
  if (refusedOnly(filter.decision)) clauses.push("i.decision <> 'allow'");
  if (filter.outcome === 'pending') clauses.push('o.seq IS NULL');
  else text('o.outcome', filter.outcome);
  if (failedOnly(filter.outcome)) clauses.push("o.outcome <> 'ok'");
  if (filter.since !== undefined) {
    clauses.push(`${d}.started_at >= ?`);
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    clauses.push(`${d}.started_at < ?`);
    params.push(filter.until);
  }
  if (filter.before) {
    // Written so that the range on started_at can use the index; the seq test breaks ties within one millisecond.
    clauses.push(`${d}.started_at <= ? AND (${d}.started_at < ? OR ${d}.seq < ?)`);
    params.push(filter.before.startedAt, filter.before.startedAt, filter.before.seq);
  }
  const limit = Math.max(1, Math.min(filter.limit, 500));
  const sql = `${byOutcome ? BY_OUTCOME : BY_INTENT}${clauses.map((c) => ` AND ${c}`).join('')} ORDER BY ${d}.started_at DESC, ${d}.seq DESC LIMIT ?`;
  const rows = await q<FeedRow>(sql, [...params, limit + 1]);
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page.at(-1);
  return {
    rows: page,
    ...(more && last && { next: `${last.startedAt}.${byOutcome ? last.outcomeSeq : last.intentSeq}` }),
  };
}

/** Parses a `next` cursor from feedPage; undefined when absent or malformed. */
export function parseCursor(text: string | null): { startedAt: number; seq: number } | undefined {
  if (text === null) return undefined;
  const match = /^(\d{1,16})\.(\d{1,16})$/.exec(text);
  if (!match) return undefined;
  return { startedAt: Number(match[1]), seq: Number(match[2]) };
}

/** Record ids whose intent carries this trace id (indexed by `intents_trace`). */
export async function idsByTrace(q: Query, traceId: string): Promise<string[]> {
  const rows = await q<{ id: string }>(
    "SELECT e.id FROM entries e WHERE e.kind = 'intent' AND json_extract(e.body, '$.traceId') = ? ORDER BY e.seq DESC LIMIT 50",
    [traceId],
  );
  return rows.map((r) => r.id);
}

/** An audit entry's columns without its body (what a feed row shows), plus a few fields read from the body. */
export interface EntryHead extends Omit<EntryInput, 'instance' | 'body'> {
  seq: number;
  rule: string | null;
  durationMs: number | null;
  traceId: string | null;
  approval: string | null;
}

/** Entries after `seq` in chain order (the live feed), without bodies but with the few fields a row shows. */
export function headsAfter(q: Query, seq: number, limit: number): Promise<EntryHead[]> {
  return q<EntryHead>(
    `SELECT e.seq, e.id, e.kind, e.ts, e.started_at AS startedAt, e.type, e.subject, e.task_id AS taskId, e.server, e.target,
       e.decision, e.outcome,
       CASE e.kind WHEN 'intent' THEN json_extract(e.body, '$.decision.rule') END AS rule,
       CASE e.kind WHEN 'outcome' THEN json_extract(e.body, '$.durationMs') END AS durationMs,
       CASE e.kind WHEN 'intent' THEN json_extract(e.body, '$.traceId') END AS traceId,
       CASE e.kind WHEN 'outcome' THEN json_extract(e.body, '$.approval.status') END AS approval
     FROM entries e WHERE e.seq > ? ORDER BY e.seq LIMIT ?`,
    [seq, limit],
  );
}

export async function lastSeq(q: Query): Promise<number> {
  const [row] = await q<{ seq: number | null }>('SELECT max(e.seq) AS seq FROM entries e', []);
  return row?.seq ?? 0;
}

export interface SeriesPoint {
  bucket: number;
  key: string | null;
  calls: number;
  denied: number;
  errors: number;
}

const ERROR_OUTCOMES = "('tool_error', 'downstream_failed', 'timeout', 'unknown_outcome')";

/** The most keys a chart series returns: the busiest agents or tools in the window. */
export const SERIES_KEYS = 50;

/**
 * Calls, denials and errors per time bucket and per agent or tool, over finished records since `since`:
 * only the `top` busiest keys (by calls in the window), so the answer stays small with many agents or tools.
 */
export function series(
  q: Query,
  by: 'agent' | 'tool',
  since: number,
  bucketMs: number,
  top = SERIES_KEYS,
): Promise<SeriesPoint[]> {
  const column = by === 'agent' ? 'subject' : 'target';
  return q<SeriesPoint>(
    `WITH busiest AS (
       SELECT ${column} AS key FROM entries WHERE kind = 'outcome' AND started_at >= ? GROUP BY key ORDER BY count(*) DESC LIMIT ?
     )
     SELECT d.started_at - (d.started_at % CAST(? AS INTEGER)) AS bucket, d.${column} AS key, count(*) AS calls,
       sum(d.outcome = 'denied') AS denied, sum(d.outcome IN ${ERROR_OUTCOMES}) AS errors
     FROM entries d WHERE d.kind = 'outcome' AND d.started_at >= ? AND (d.${column} IN (SELECT key FROM busiest) OR (d.${column} IS NULL AND EXISTS (SELECT 1 FROM busiest WHERE key IS NULL))) GROUP BY bucket, key ORDER BY bucket`,
    [since, top, bucketMs, since],
  );
}

/** Calls, denials and errors per time bucket over every finished record since `since` (the charts' totals). */
export function totals(q: Query, since: number, bucketMs: number): Promise<Omit<SeriesPoint, 'key'>[]> {
  return q<Omit<SeriesPoint, 'key'>>(
    `SELECT d.started_at - (d.started_at % CAST(? AS INTEGER)) AS bucket, count(*) AS calls,
       sum(d.outcome = 'denied') AS denied, sum(d.outcome IN ${ERROR_OUTCOMES}) AS errors
     FROM entries d WHERE d.kind = 'outcome' AND d.started_at >= ? GROUP BY bucket ORDER BY bucket`,
    [bucketMs, since],
  );
}

/** Per agent over the last week's finished records: calls, denials, errors and the last call (the Agents page). */
export function agentTotals(
  q: Query,
  since: number,
): Promise<{ subject: string | null; calls: number; denied: number; errors: number; last: number }[]> {
  return q(
    `SELECT d.subject, count(*) AS calls, sum(d.outcome = 'denied') AS denied,
       sum(d.outcome IN ${ERROR_OUTCOMES}) AS errors, max(d.started_at) AS last
     FROM entries d WHERE d.kind = 'outcome' AND d.started_at >= ? GROUP BY d.subject ORDER BY last DESC LIMIT 500`,
    [since],
  );
}

/** When the oldest finished record since `since` started (undefined when there is none): the charts' range. */
export async function oldestSince(q: Query, since: number): Promise<number | undefined> {
  const [row] = await q<{ first: number | null }>(
    `SELECT min(started_at) AS first FROM entries WHERE kind = 'outcome' AND started_at >= ?`,
    [since],
  );
  return row?.first ?? undefined;
}

/** Recent events, newest first, by keyset on seq. */
export function eventsPage(
  q: Query,
  options: { type?: string; taskId?: string; before?: number; withoutLists?: boolean; limit: number },
): Promise<EntryHead[]> {
  const clauses = ["e.kind = 'event'"];
  const params: unknown[] = [];
  // What each list request showed (policy replay's record), left out of the feed's events panel.
  if (options.withoutLists) clauses.push("e.type NOT IN ('list.shown', 'list.catalog')");
  if (options.type) {
    clauses.push(GLOB.test(options.type) ? 'e.type GLOB ?' : 'e.type = ?');
    params.push(options.type);
  }
  if (options.taskId) {
    clauses.push('e.task_id = ?');
    params.push(options.taskId);
  }
  if (options.before !== undefined) {
    clauses.push('e.seq < ?');
    params.push(options.before);
  }
  return q<EntryHead>(
    `SELECT e.seq, e.id, e.kind, e.ts, e.started_at AS startedAt, e.type, e.subject, e.task_id AS taskId, e.server,
       e.target, e.decision, e.outcome, NULL AS rule, NULL AS durationMs, NULL AS traceId,
       json_extract(e.body, '$.data') AS data
     FROM entries e WHERE ${clauses.join(' AND ')} ORDER BY e.seq DESC LIMIT ?`,
    [...params, Math.max(1, Math.min(options.limit, 500))],
  );
}
