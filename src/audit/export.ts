import type { StoredEntry } from './chain.js';
import type { RecordSummary } from './queries.js';

/**
 * Characters that can hide or rewrite text on a terminal, in a log viewer or a spreadsheet: C0 and C1
 * controls, DEL, line/paragraph separators, bidi overrides and isolates, zero-width characters, BOM,
 * Unicode tag characters. Everything the audit prints or exports shows them as visible `\uXXXX` escapes.
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]|[\u{e0000}-\u{e007f}]/gu;

export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (ch) => {
    const code = ch.codePointAt(0)!;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** JSON with every unsafe character escaped (JSON.stringify leaves C1, bidi and separators raw). */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (ch) => {
    const code = ch.codePointAt(0)!;
    if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`;
    const high = Math.floor((code - 0x10000) / 0x400) + 0xd800;
    const low = ((code - 0x10000) % 0x400) + 0xdc00;
    return `\\u${high.toString(16)}\\u${low.toString(16)}`;
  });
}

// A cell a spreadsheet would run as a formula: = + - @ (also after leading blanks), tab or CR first.
const FORMULA = /^[\s]*[=+\-@\uff1d\uff0b\uff0d\uff20]|^[\t\r]/;

/** One CSV cell (RFC 4180), control characters escaped, formula prefixes neutralised with a quote. */
export function csvCell(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  let text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  const formula = FORMULA.test(text);
  text = escapeControls(text);
  if (formula) text = `'${text}`;
  return /[",]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(cells: readonly unknown[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

function parse(body: string | undefined): Record<string, unknown> {
  if (body === undefined) return {};
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return { unparsable: body };
  }
}

const iso = (ms: number | null | undefined): string | null =>
  typeof ms === 'number' ? new Date(ms).toISOString() : null;

/** The whole record as one object: the summary, the intent's and outcome's bodies, and their chain positions. */
export function recordObject(
  summary: RecordSummary,
  intent?: StoredEntry,
  outcome?: StoredEntry,
): Record<string, unknown> {
  return {
    id: summary.id,
    startedAt: iso(summary.startedAt),
    endedAt: iso(summary.endedAt),
    instance: summary.instance,
    method: summary.method,
    subject: summary.subject,
    taskId: summary.taskId,
    server: summary.server,
    target: summary.target,
    decision: summary.decision,
    outcome: summary.outcome,
    durationMs: summary.durationMs,
    intent: intent ? { seq: intent.seq, hash: intent.hash, ...parse(intent.body) } : null,
    result: outcome ? { seq: outcome.seq, hash: outcome.hash, ...parse(outcome.body) } : null,
  };
}

export const RECORD_CSV_COLUMNS = [
  'id',
  'started_at',
  'ended_at',
  'instance',
  'ingress',
  'session',
  'jsonrpc_id',
  'trace_id',
  'subject',
  'issuer',
  'client_id',
  'tenant',
  'auth_method',
  'client',
  'task_id',
  'task_purpose',
  'delegation',
  'method',
  'server',
  'target',
  'tool_hash',
  'parent',
  'arguments',
  'arguments_digest',
  'decision',
  'rule',
  'reason',
  'policy_version',
  'approval',
  'outcome',
  'error_code',
  'error_message',
  'outcome_reason',
  'duration_ms',
  'secrets',
  'result_bytes',
  'result_digest',
  'intent_seq',
  'outcome_seq',
] as const;

export function recordCsvCells(summary: RecordSummary, intent?: StoredEntry, outcome?: StoredEntry): unknown[] {
  const i = parse(intent?.body) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed record bodies
  const o = parse(outcome?.body) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed record bodies
  const client = i.client ? `${i.client.name ?? ''} ${i.client.version ?? ''}`.trim() : null;
  return [
    summary.id,
    iso(summary.startedAt),
    iso(summary.endedAt),
    summary.instance,
    i.ingress,
    i.session,
    i.jsonrpcId,
    i.traceId,
    summary.subject,
    i.principal?.issuer,
    i.principal?.clientId,
    i.principal?.tenant,
    i.principal?.authMethod,
    client,
    summary.taskId,
    i.task?.purpose,
    i.delegation,
    summary.method,
    summary.server,
    summary.target,
    i.toolHash,
    i.parent,
    i.arguments,
    i.argumentsDigest,
    summary.decision,
    i.decision?.rule,
    i.decision?.reason,
    i.decision?.policyVersion,
    i.decision?.approval,
    summary.outcome,
    o.error?.code,
    o.error?.message,
    o.reason,
    summary.durationMs,
    o.secrets,
    o.result?.bytes,
    o.result?.digest,
    intent?.seq,
    outcome?.seq,
  ];
}

export const EVENT_CSV_COLUMNS = [
  'id',
  'ts',
  'instance',
  'type',
  'subject',
  'task_id',
  'server',
  'target',
  'data',
  'seq',
] as const;

export function eventObject(e: StoredEntry): Record<string, unknown> {
  return {
    id: e.id,
    ts: iso(e.ts),
    instance: e.instance,
    type: e.type,
    subject: e.subject,
    taskId: e.taskId,
    server: e.server,
    target: e.target,
    data: parse(e.body).data ?? null,
    seq: e.seq,
    hash: e.hash,
  };
}

export function eventCsvCells(e: StoredEntry): unknown[] {
  return [
    e.id,
    iso(e.ts),
    e.instance,
    e.type,
    e.subject,
    e.taskId,
    e.server,
    e.target,
    parse(e.body).data ?? null,
    e.seq,
  ];
}
