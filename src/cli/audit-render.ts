import type { StoredEntry } from '../audit/chain.js';
import { escapeControls } from '../audit/export.js';
import type { RecordDetail, RecordSummary, Stats, StatsRow } from '../audit/queries.js';
import type { VerifyReport } from '../audit/verify.js';

/** Output for people: every cell escaped (no terminal control from a recorded value), long cells cut. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[], maxWidth = 48): string {
  const cells = rows.map((row) =>
    row.map((cell) => clip(cell === null || cell === undefined ? '-' : escapeControls(String(cell)), maxWidth)),
  );
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return `${[line(headers), ...cells.map(line)].join('\n')}\n`;
}

function clip(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

export const time = (ms: number | null | undefined): string =>
  typeof ms === 'number' ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';

export function recordsTable(records: readonly RecordSummary[]): string {
  if (records.length === 0) return 'no records match\n';
  return table(
    ['started', 'id', 'agent', 'method', 'target', 'decision', 'outcome', 'ms'],
    records.map((r) => [
      time(r.startedAt),
      r.id,
      r.subject,
      r.method,
      r.target ?? r.server,
      r.decision,
      r.outcome,
      r.durationMs,
    ]),
  );
}

export function eventsTable(events: readonly StoredEntry[]): string {
  if (events.length === 0) return 'no events match\n';
  return table(
    ['time', 'id', 'type', 'agent', 'target', 'details'],
    events.map((e) => [
      time(e.ts),
      e.id,
      e.type,
      e.subject,
      e.target ?? e.server,
      JSON.stringify((JSON.parse(e.body) as { data?: unknown }).data ?? {}),
    ]),
    64,
  );
}

/** One line per chain entry, for `audit tail`. */
export function tailLine(e: StoredEntry): string {
  const what = e.kind === 'event' ? e.type : `${e.type} ${e.target ?? e.server ?? ''}`.trim();
  const result = e.kind === 'intent' ? `decision=${e.decision}` : e.kind === 'outcome' ? `outcome=${e.outcome}` : '';
  return (
    escapeControls(`${time(e.ts)}  ${e.kind.padEnd(7)}  ${e.id}  ${e.subject ?? '-'}  ${what}  ${result}`.trimEnd()) +
    '\n'
  );
}

/** `audit show`: every field of the record, one per line, nested fields dotted. */
export function showRecord(detail: RecordDetail | { event: StoredEntry }): string {
  const out: string[] = [];
  if ('event' in detail) {
    const e = detail.event;
    out.push(`event ${e.id}  ${e.type}  ${time(e.ts)}`, `  chain: entry ${e.seq}  hash ${e.hash}`);
    flatten(JSON.parse(e.body), '', out);
    return `${out.map(escapeControls).join('\n')}\n`;
  }
  const head = detail.intent ?? detail.outcome!;
  const outcome = detail.outcome?.outcome ?? 'pending (no outcome recorded yet)';
  out.push(`record ${head.id}  ${head.type}  ${head.target ?? head.server ?? ''}`);
  out.push(`  agent ${head.subject ?? '-'}   decision ${head.decision ?? '-'}   outcome ${outcome}`);
  out.push(`  started ${time(head.startedAt)}   ended ${time(detail.outcome?.ts)}`);
  if (detail.intent) {
    out.push(
      '',
      `intent (chain entry ${detail.intent.seq}, hash ${detail.intent.hash}, gateway ${detail.intent.instance})`,
    );
    flatten(JSON.parse(detail.intent.body), '', out);
  } else {
    out.push('', 'intent: not in the log (pruned)');
  }
  if (detail.outcome) {
    out.push(
      '',
      `outcome (chain entry ${detail.outcome.seq}, hash ${detail.outcome.hash}, gateway ${detail.outcome.instance})`,
    );
    flatten(JSON.parse(detail.outcome.body), '', out);
  }
  if (detail.relays.length > 0) {
    out.push('', 'requests the server sent towards the agent during this call:');
    for (const r of detail.relays) out.push(`  ${time(r.startedAt)}  ${r.id}  ${r.method}  ${r.outcome}`);
  }
  return `${out.map(escapeControls).join('\n')}\n`;
}

function flatten(value: unknown, prefix: string, out: string[]): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (key === 'v' && prefix === '') continue;
      flatten(item, prefix ? `${prefix}.${key}` : key, out);
    }
    return;
  }
  out.push(`  ${prefix.padEnd(24)} ${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

export function statsText(s: Stats): string {
  const rows = (list: StatsRow[]) => list.map((r) => [r.key, r.calls, r.denied, r.errors]);
  return [
    `calls ${s.total.calls}   denied ${s.total.denied}   errors ${s.total.errors}   in flight or unrecorded ${s.total.open}`,
    '',
    'by agent',
    table(['agent', 'calls', 'denied', 'errors'], rows(s.byAgent)),
    'by tool',
    table(['tool', 'calls', 'denied', 'errors'], rows(s.byTool), 64),
    'by outcome',
    table(
      ['outcome', 'calls'],
      s.byOutcome.map((r) => [r.outcome, r.count]),
    ),
  ].join('\n');
}

export function verifyText(file: string, r: VerifyReport): string {
  const lines = [
    `${file}: ${r.ok ? 'OK' : `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`}`,
    `  entries ${r.entries}${r.firstSeq === null ? '' : ` (${r.firstSeq}-${r.lastSeq})`}; checkpoints ${r.checkpoints}, ${r.signaturesVerified} signatures verified` +
      (r.anchor ? `; pruned up to ${r.anchor.seq}` : ''),
    ...r.problems.slice(0, 100).map((p) => `  ${p.kind.toUpperCase()}: ${p.message}`),
    ...(r.problems.length > 100 ? [`  … and ${r.problems.length - 100} more (--json lists every one)`] : []),
    ...r.warnings.map((w) => `  warning: ${w}`),
  ];
  return `${lines.map(escapeControls).join('\n')}\n`;
}
