// Over 300 lines: every reviewer query with the statement it runs, built once for the SQLite and the PostgreSQL readers.
import { ENTRY_COLUMNS, type StoredEntry } from './chain.js';
import { ENTRY_COLUMN_NAMES, ENTRY_FIELDS } from './columns.js';
import type { Db } from './store.js';

/** Filters of `audit list`, `export` and `stats`. Text filters take `*` and `?` globs. */
export interface RecordFilter {
  since?: number;
  until?: number;
  agent?: string;
  task?: string;
  server?: string;
  tool?: string;
  outcome?: string;
  decision?: string;
  limit?: number;
}

/** One delegated action: its intent joined with its outcome (none yet: `pending`). */
export interface RecordSummary {
  id: string;
  intentSeq: number | null;
  outcomeSeq: number | null;
  startedAt: number;
  endedAt: number | null;
  instance: string;
  method: string;
  subject: string | null;
  taskId: string | null;
  server: string | null;
  target: string | null;
  decision: string | null;
  outcome: string;
  durationMs: number | null;
}

const GLOB = /[*?[]/;

/** The SQL conditions of a filter on entries aliased `alias` (values pushed onto `params`). */
export function where(alias: string, filter: RecordFilter, params: unknown[], skipOutcome = false): string[] {
  const clauses: string[] = [];
  const text = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    clauses.push(GLOB.test(value) ? `${alias}.${column} GLOB ?` : `${alias}.${column} = ?`);
    params.push(value);
  };
  if (filter.since !== undefined) {
    clauses.push(`${alias}.started_at >= ?`);
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    clauses.push(`${alias}.started_at < ?`);
    params.push(filter.until);
  }
  text('subject', filter.agent);
  text('task_id', filter.task);
  text('server', filter.server);
  text('target', filter.tool);
  text('decision', filter.decision);
  if (refusedOnly(filter.decision)) clauses.push(`${alias}.decision <> 'allow'`);
  if (!skipOutcome) {
    text('outcome', filter.outcome);
    if (failedOnly(filter.outcome)) clauses.push(`${alias}.outcome <> 'ok'`);
  }
  return clauses;
}

/**
 * Whether a decision filter can only match refused intents: then the query restates the condition of the
 * partial index `intents_refused` (migration 5), which SQLite uses only when a query's terms say so.
 */
export function refusedOnly(decision: string | undefined): boolean {
  return decision !== undefined && decision !== '' && !GLOB.test(decision) && decision !== 'allow';
}

/** The same for an outcome filter and the partial index `outcomes_failed` (outcomes other than ok). */
export function failedOnly(outcome: string | undefined): boolean {
  return outcome !== undefined && outcome !== '' && !GLOB.test(outcome) && outcome !== 'ok' && outcome !== 'pending';
}

/** Intent-driven: every record, finished or not. */
const BY_INTENT = `SELECT d.seq AS intentSeq, o.seq AS outcomeSeq, d.id, d.started_at AS startedAt, o.ts AS endedAt, d.instance,
  d.type AS method, d.subject, d.task_id AS taskId, d.server, d.target, d.decision,
  COALESCE(o.outcome, 'pending') AS outcome, json_extract(o.body, '$.durationMs') AS durationMs
  FROM entries d LEFT JOIN entries o ON o.id = d.id AND o.kind = 'outcome'
  WHERE d.kind = 'intent'`;

/** Outcome-driven: outcomes repeat their intent's columns, so one index serves the filter and the order. */
const BY_OUTCOME = `SELECT i.seq AS intentSeq, d.seq AS outcomeSeq, d.id, d.started_at AS startedAt, d.ts AS endedAt,
  COALESCE(i.instance, d.instance) AS instance, d.type AS method, d.subject, d.task_id AS taskId, d.server, d.target, d.decision,
  d.outcome AS outcome, json_extract(d.body, '$.durationMs') AS durationMs
  FROM entries d LEFT JOIN entries i ON i.id = d.id AND i.kind = 'intent'
  WHERE d.kind = 'outcome'`;

/**
 * Outcomes drive the query when the outcome is the only column filter (their index then serves filter and
 * order); with an agent, task, server, tool or decision as well, that column's intent index is the more
 * selective start and the outcome is checked on the joined row.
 */
function outcomeDriven(filter: RecordFilter): boolean {
  // `ok` is most outcomes, and no index holds them (outcomes_failed leaves them out): the intents' time
  // index drives, as without a filter, and the joined outcome is checked.
  if (filter.outcome === undefined || filter.outcome === 'pending' || filter.outcome === 'ok') return false;
  return [filter.agent, filter.task, filter.server, filter.tool, filter.decision].every((value) => value === undefined);
}

function outcomeClause(filter: RecordFilter, params: unknown[]): string[] {
  if (filter.outcome === undefined || outcomeDriven(filter)) return [];
  if (filter.outcome === 'pending') return ['d.id IN (SELECT id FROM open_intents)'];
  params.push(filter.outcome);
  return [GLOB.test(filter.outcome) ? 'o.outcome GLOB ?' : 'o.outcome = ?'];
}

/** Newest first (by start time), at most `limit` (default 50). */
export function listRecords(db: Db, filter: RecordFilter): RecordSummary[] {
  const { sql, params } = listQuery(filter);
  return db.prepare<unknown[], RecordSummary>(sql).all(...params);
}

/** The statement `listRecords` runs (tests read its query plan). */
export function listQuery(filter: RecordFilter): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const limit = Math.max(1, Math.min(filter.limit ?? 50, 1_000_000));
  const byOutcome = outcomeDriven(filter);
  const clauses = [...where('d', filter, params, !byOutcome), ...outcomeClause(filter, params)];
  const sql = `${byOutcome ? BY_OUTCOME : BY_INTENT}${clauses.map((c) => ` AND ${c}`).join('')} ORDER BY d.started_at DESC, d.seq DESC LIMIT ?`;
  params.push(limit);
  return { sql, params };
}

function pick(row: Record<string, unknown>, prefix: string): StoredEntry | undefined {
  if (row[`${prefix}seq`] === null) return undefined;
  const out: Record<string, unknown> = {};
  for (const f of ENTRY_FIELDS) out[f.key] = row[`${prefix}${f.column}`];
  return out as unknown as StoredEntry;
}

/** Every matching record with its intent and outcome entries, oldest first, streamed (for export). */
export function* exportRecords(
  db: Db,
  filter: RecordFilter,
): Generator<{ summary: RecordSummary; intent?: StoredEntry; outcome?: StoredEntry }> {
  const { sql, params } = exportQuery(filter);
  for (const row of db.prepare<unknown[], Record<string, unknown>>(sql).iterate(...params)) yield exportedRecord(row);
}

/** One row of `exportQuery` as the record it joins. */
export function exportedRecord(row: Record<string, unknown>): {
  summary: RecordSummary;
  intent?: StoredEntry;
  outcome?: StoredEntry;
} {
  const intent = pick(row, 'i_');
  const outcome = pick(row, 'o_');
  const summary = summaryOf(intent, outcome);
  return { summary, ...(intent && { intent }), ...(outcome && { outcome }) };
}

/** The statement `exportRecords` runs: intent and outcome columns prefixed `i_` and `o_`, oldest first. */
export function exportQuery(filter: RecordFilter): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const byOutcome = outcomeDriven(filter);
  const clauses = [...where('d', filter, params, !byOutcome), ...outcomeClause(filter, params)];
  const [intentAlias, outcomeAlias] = byOutcome ? ['i', 'd'] : ['d', 'o'];
  const cols = [
    ...ENTRY_COLUMN_NAMES.map((c) => `${intentAlias}.${c} AS i_${c}`),
    ...ENTRY_COLUMN_NAMES.map((c) => `${outcomeAlias}.${c} AS o_${c}`),
  ].join(', ');
  const from = byOutcome
    ? "FROM entries d LEFT JOIN entries i ON i.id = d.id AND i.kind = 'intent' WHERE d.kind = 'outcome'"
    : "FROM entries d LEFT JOIN entries o ON o.id = d.id AND o.kind = 'outcome' WHERE d.kind = 'intent'";
  const limit = filter.limit === undefined ? '' : ` LIMIT ${Math.max(1, Math.trunc(filter.limit))}`;
  const sql = `SELECT ${cols} ${from}${clauses.map((c) => ` AND ${c}`).join('')} ORDER BY d.started_at, d.seq${limit}`;
  return { sql, params };
}

/** A record's summary from its entries (either may be missing: in flight, or the intent pruned). */
export function summaryOf(intent: StoredEntry | undefined, outcome: StoredEntry | undefined): RecordSummary {
  const base = (intent ?? outcome)!;
  const durationMs = outcome ? ((JSON.parse(outcome.body) as { durationMs?: number }).durationMs ?? null) : null;
  return {
    id: base.id,
    intentSeq: intent?.seq ?? null,
    outcomeSeq: outcome?.seq ?? null,
    startedAt: base.startedAt,
    endedAt: outcome?.ts ?? null,
    instance: intent?.instance ?? base.instance,
    method: base.type,
    subject: base.subject,
    taskId: base.taskId,
    server: base.server,
    target: base.target,
    decision: base.decision,
    outcome: outcome?.outcome ?? 'pending',
    durationMs,
  };
}

export interface RecordDetail {
  intent: StoredEntry | undefined;
  outcome: StoredEntry | undefined;
  /** Server→client requests (sampling, elicitation, roots) made during this call. */
  relays: RecordSummary[];
}

/** The whole record for `audit show`: an action (intent, outcome, relays) or an event. */
export function getRecord(db: Db, id: string): RecordDetail | { event: StoredEntry } | undefined {
  const rows = db.prepare<unknown[], StoredEntry>(RECORD_ENTRIES).all(id);
  const found = recordOf(rows);
  if (!found || 'event' in found) return found;
  const relays = relaysQuery(found, id);
  return { ...found, relays: db.prepare<unknown[], RecordSummary>(relays.sql).all(...relays.params) };
}

/** The entries of one id, in chain order. */
export const RECORD_ENTRIES = `SELECT ${ENTRY_COLUMNS} FROM entries WHERE id = ? ORDER BY seq`;

/** An id's entries as an event, or as an action's intent and outcome (relays still to be read). */
export function recordOf(
  rows: readonly StoredEntry[],
): { intent: StoredEntry | undefined; outcome: StoredEntry | undefined } | { event: StoredEntry } | undefined {
  const event = rows.find((r) => r.kind === 'event');
  if (event) return { event };
  const intent = rows.find((r) => r.kind === 'intent');
  const outcome = rows.find((r) => r.kind === 'outcome');
  if (!intent && !outcome) return undefined;
  return { intent, outcome };
}

/** The requests a server sent towards the agent during the call `id`. */
export function relaysQuery(
  record: { intent: StoredEntry | undefined; outcome: StoredEntry | undefined },
  id: string,
): { sql: string; params: unknown[] } {
  const start = (record.intent ?? record.outcome)!.startedAt;
  const end = record.outcome?.ts ?? Number.MAX_SAFE_INTEGER;
  return {
    sql: `${BY_INTENT} AND d.started_at BETWEEN ? AND ?
       AND d.type IN ('sampling/createMessage', 'elicitation/create', 'roots/list') AND json_extract(d.body, '$.parent') = ?
       ORDER BY d.seq`,
    params: [start, end, id],
  };
}

export interface EventFilter {
  since?: number;
  until?: number;
  type?: string;
  agent?: string;
  limit?: number;
}

export function listEvents(db: Db, filter: EventFilter): StoredEntry[] {
  const { sql, params } = eventsQuery(filter);
  return db.prepare<unknown[], StoredEntry>(sql).all(...params);
}

/** The statement `listEvents` runs: newest first. */
export function eventsQuery(filter: EventFilter): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const clauses = ["kind = 'event'"];
  const add = (clause: string, value: unknown) => {
    clauses.push(clause);
    params.push(value);
  };
  if (filter.since !== undefined) add('ts >= ?', filter.since);
  if (filter.until !== undefined) add('ts < ?', filter.until);
  if (filter.type !== undefined) add(GLOB.test(filter.type) ? 'type GLOB ?' : 'type = ?', filter.type);
  if (filter.agent !== undefined) add(GLOB.test(filter.agent) ? 'subject GLOB ?' : 'subject = ?', filter.agent);
  params.push(Math.max(1, Math.min(filter.limit ?? 50, 1_000_000)));
  return {
    sql: `SELECT ${ENTRY_COLUMNS} FROM entries WHERE ${clauses.join(' AND ')} ORDER BY ts DESC, seq DESC LIMIT ?`,
    params,
  };
}

/** Entries after `afterSeq`, in chain order: what `audit tail` prints. */
export function entriesAfter(db: Db, afterSeq: number, limit: number): StoredEntry[] {
  return db.prepare<unknown[], StoredEntry>(ENTRIES_AFTER).all(afterSeq, limit);
}

export const ENTRIES_AFTER = `SELECT ${ENTRY_COLUMNS} FROM entries WHERE seq > ? ORDER BY seq LIMIT ?`;
export const LAST_ENTRIES = `SELECT ${ENTRY_COLUMNS} FROM entries ORDER BY seq DESC LIMIT ?`;

export function lastEntries(db: Db, count: number): StoredEntry[] {
  return db.prepare<unknown[], StoredEntry>(LAST_ENTRIES).all(count).reverse();
}

export interface StatsRow {
  key: string | null;
  calls: number;
  denied: number;
  errors: number;
}

export interface Stats {
  total: { calls: number; denied: number; errors: number; open: number };
  byAgent: StatsRow[];
  byTool: StatsRow[];
  byOutcome: { outcome: string; count: number }[];
}

const ERROR_OUTCOMES = "('tool_error', 'downstream_failed', 'timeout', 'unknown_outcome')";

/** Calls, denials and errors by agent, by tool and by outcome (finished records, plus those still open). */
export function stats(db: Db, filter: RecordFilter): Stats {
  const q = statsQueries(filter);
  const all = <T>(sql: string) => db.prepare<unknown[], T>(sql).all(...q.params);
  const total = all<{ calls: number; denied: number | null; errors: number | null }>(q.total)[0]!;
  const open = (db.prepare(q.open).get() as { n: number }).n;
  return {
    total: { calls: total.calls, denied: total.denied ?? 0, errors: total.errors ?? 0, open },
    byAgent: all<StatsRow>(q.byAgent),
    byTool: all<StatsRow>(q.byTool),
    byOutcome: all<{ outcome: string; count: number }>(q.byOutcome),
  };
}

/** The statements `stats` runs, all with the same parameters but `open` (none). */
export function statsQueries(filter: RecordFilter): {
  params: unknown[];
  total: string;
  open: string;
  byAgent: string;
  byTool: string;
  byOutcome: string;
} {
  const params: unknown[] = [];
  const clauses = ["d.kind = 'outcome'", ...where('d', { ...filter, outcome: undefined }, params)];
  const base = `FROM entries d WHERE ${clauses.join(' AND ')}`;
  const counts = `count(*) AS calls, sum(d.outcome = 'denied') AS denied, sum(d.outcome IN ${ERROR_OUTCOMES}) AS errors`;
  // Ties are ordered by key with NULL first (SQLite's default; PostgreSQL's is last), so both stores list
  // the same rows in the same order; outcomes by name after their count for the same reason.
  const grouped = (column: string) =>
    `SELECT ${column} AS key, ${counts} ${base} GROUP BY ${column} ORDER BY calls DESC, key NULLS FIRST`;
  return {
    params,
    total: `SELECT ${counts} ${base}`,
    open: 'SELECT count(*) AS n FROM open_intents',
    byAgent: grouped('d.subject'),
    byTool: grouped('d.target'),
    byOutcome: `SELECT d.outcome AS outcome, count(*) AS count ${base} GROUP BY d.outcome ORDER BY count DESC, outcome`,
  };
}
