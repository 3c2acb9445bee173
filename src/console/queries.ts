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
export function feedPage(db: Db, filter: FeedFilter): { rows: FeedRow[]; next?: string } {
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
  const rows = db.prepare<unknown[], FeedRow>(sql).all(...params, limit + 1);
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
export function idsByTrace(db: Db, traceId: string): string[] {
  return db
    .prepare<[string], { id: string }>(
      "SELECT id FROM entries WHERE kind = 'intent' AND json_extract(body, '$.traceId') = ? ORDER BY seq DESC LIMIT 50",
    )
    .all(traceId)
    .map((r) => r.id);
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
export function headsAfter(db: Db, seq: number, limit: number): EntryHead[] {
  return db
    .prepare<[number, number], EntryHead>(
      `SELECT seq, id, kind, ts, started_at AS startedAt, type, subject, task_id AS taskId, server, target, decision, outcome,
         CASE kind WHEN 'intent' THEN json_extract(body, '$.decision.rule') END AS rule,
         CASE kind WHEN 'outcome' THEN json_extract(body, '$.durationMs') END AS durationMs,
         CASE kind WHEN 'intent' THEN json_extract(body, '$.traceId') END AS traceId,
         CASE kind WHEN 'outcome' THEN json_extract(body, '$.approval.status') END AS approval
       FROM entries WHERE seq > ? ORDER BY seq LIMIT ?`,
    )
    .all(seq, limit);
}

export function lastSeq(db: Db): number {
  return (db.prepare('SELECT max(seq) AS seq FROM entries').get() as { seq: number | null }).seq ?? 0;
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
  db: Db,
  by: 'agent' | 'tool',
  since: number,
  bucketMs: number,
  top = SERIES_KEYS,
): SeriesPoint[] {
  const column = by === 'agent' ? 'subject' : 'target';
  return db
    .prepare<[number, number, number, number], SeriesPoint>(
      `WITH busiest AS (
         SELECT ${column} AS key FROM entries WHERE kind = 'outcome' AND started_at >= ? GROUP BY key ORDER BY count(*) DESC LIMIT ?
       )
       SELECT started_at - (started_at % CAST(? AS INTEGER)) AS bucket, ${column} AS key, count(*) AS calls,
         sum(outcome = 'denied') AS denied, sum(outcome IN ${ERROR_OUTCOMES}) AS errors
       FROM entries WHERE kind = 'outcome' AND started_at >= ? AND (${column} IN (SELECT key FROM busiest) OR (${column} IS NULL AND EXISTS (SELECT 1 FROM busiest WHERE key IS NULL))) GROUP BY bucket, key ORDER BY bucket`,
    )
    .all(since, top, bucketMs, since);
}

/** Calls, denials and errors per time bucket over every finished record since `since` (the charts' totals). */
export function totals(db: Db, since: number, bucketMs: number): Omit<SeriesPoint, 'key'>[] {
  return db
    .prepare<[number, number], Omit<SeriesPoint, 'key'>>(
      `SELECT started_at - (started_at % CAST(? AS INTEGER)) AS bucket, count(*) AS calls,
         sum(outcome = 'denied') AS denied, sum(outcome IN ${ERROR_OUTCOMES}) AS errors
       FROM entries WHERE kind = 'outcome' AND started_at >= ? GROUP BY bucket ORDER BY bucket`,
    )
    .all(bucketMs, since);
}

/** When the oldest finished record since `since` started (undefined when there is none): the charts' range. */
export function oldestSince(db: Db, since: number): number | undefined {
  const row = db
    .prepare<[number], { first: number | null }>(
      `SELECT min(started_at) AS first FROM entries WHERE kind = 'outcome' AND started_at >= ?`,
    )
    .get(since);
  return row?.first ?? undefined;
}

/** Recent events, newest first, by keyset on seq. */
export function eventsPage(
  db: Db,
  options: { type?: string; taskId?: string; before?: number; withoutLists?: boolean; limit: number },
): EntryHead[] {
  const clauses = ["kind = 'event'"];
  const params: unknown[] = [];
  // What each list request showed (policy replay's record), left out of the feed's events panel.
  if (options.withoutLists) clauses.push("type NOT IN ('list.shown', 'list.catalog')");
  if (options.type) {
    clauses.push(GLOB.test(options.type) ? 'type GLOB ?' : 'type = ?');
    params.push(options.type);
  }
  if (options.taskId) {
    clauses.push('task_id = ?');
    params.push(options.taskId);
  }
  if (options.before !== undefined) {
    clauses.push('seq < ?');
    params.push(options.before);
  }
  return db
    .prepare<unknown[], EntryHead>(
      `SELECT seq, id, kind, ts, started_at AS startedAt, type, subject, task_id AS taskId, server, target, decision, outcome,
         NULL AS rule, NULL AS durationMs, NULL AS traceId, json_extract(body, '$.data') AS data
       FROM entries WHERE ${clauses.join(' AND ')} ORDER BY seq DESC LIMIT ?`,
    )
    .all(...params, Math.max(1, Math.min(options.limit, 500)));
}
