// Over 300 lines: the `audit` command's eight subcommands, each short, with the usage, options and filter they share.
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { CheckpointRow } from '../audit/checkpoints.js';
import {
  EVENT_CSV_COLUMNS,
  RECORD_CSV_COLUMNS,
  csvLine,
  eventCsvCells,
  eventObject,
  recordCsvCells,
  recordObject,
  safeJson,
} from '../audit/export.js';
import { summaryOf, type RecordFilter } from '../audit/queries.js';
import type { AuditReader } from '../audit/reader.js';
import type { ExternalCheckpoints } from '../audit/verify.js';
import { WardenError } from '../errors.js';
import { KeyStore } from '../state/keys.js';
import { openReader, pruneSource, sourceOf, type Source } from './audit-source.js';
import { eventsTable, recordsTable, showRecord, statsText, table, tailLine, time, verifyText } from './audit-render.js';
import { EXIT, UsageError, type CommandContext } from './common.js';

export const AUDIT_USAGE = `mcp-warden audit <list|show|tail|export|stats|verify|checkpoints|prune> [options]

list                  records, newest first: a table, or --json
show ID               one record in full (intent, outcome, relayed requests), or one event
tail [-f]             the latest entries; -f keeps printing new ones until interrupted
export --format jsonl|csv [--out FILE]
                      every matching record, oldest first (control characters escaped; CSV cells
                      that a spreadsheet would run as a formula are neutralised)
stats                 calls, denials and errors by agent, tool and outcome
verify [--against FILE]
                      walks the hash chain and the signed checkpoints; names modified, deleted and
                      reordered entries, a truncated tail and bad signatures. Exit 1 on any problem
checkpoints [--export [--out FILE]]
                      lists checkpoints, or writes them (JSON lines, with the public keys) to keep elsewhere
prune --before DATE   removes entries older than DATE, leaving an anchor so the rest still verifies

Filters (list, export, stats): --since T --until T (ISO date or time, or 15m, 2h, 7d ago), --agent SUBJECT,
--task ID, --server ID, --tool NAME, --outcome ok|tool_error|denied|rejected|timeout|cancelled|
downstream_failed|elicitation_required|unknown_outcome|pending, --decision allow|deny (globs with * allowed), -n/--limit N.
--events lists or exports events instead of records (filter with --type, e.g. 'task.*').
With "store": {"kind": "postgres", ...} in the config, every command reads (and prune prunes) the audit
log in that database; otherwise <data-dir>/audit.db.`;

export const AUDIT_OPTIONS = {
  since: { type: 'string' },
  until: { type: 'string' },
  agent: { type: 'string' },
  task: { type: 'string' },
  server: { type: 'string' },
  tool: { type: 'string' },
  outcome: { type: 'string' },
  decision: { type: 'string' },
  type: { type: 'string' },
  limit: { type: 'string', short: 'n' },
  json: { type: 'boolean' },
  events: { type: 'boolean' },
  follow: { type: 'boolean', short: 'f' },
  format: { type: 'string' },
  out: { type: 'string', short: 'o' },
  against: { type: 'string' },
  export: { type: 'boolean' },
  before: { type: 'string' },
} as const;

type Values = Record<string, unknown>;

const OUTCOMES = [
  'ok',
  'tool_error',
  'denied',
  'rejected',
  'timeout',
  'cancelled',
  'downstream_failed',
  'elicitation_required',
  'unknown_outcome',
  'pending',
];

export async function runAudit(ctx: CommandContext, positionals: string[], values: Values): Promise<number> {
  const [sub, ...rest] = positionals;
  const source = sourceOf(ctx);
  if (sub === 'prune') return prune(source, values);
  if (!['list', 'show', 'tail', 'export', 'stats', 'verify', 'checkpoints'].includes(sub ?? ''))
    throw new UsageError(
      `usage: mcp-warden audit list|show|tail|export|stats|verify|checkpoints|prune (got "${sub ?? ''}")`,
    );
  const reader = await openReader(source);
  try {
    switch (sub) {
      case 'list':
        return await list(reader, values);
      case 'show':
        return await show(reader, rest, values);
      case 'tail':
        return await tail(reader, values);
      case 'export':
        return await exportCommand(reader, values);
      case 'stats':
        return await statsCommand(reader, values);
      case 'verify':
        return await verify(reader, source.dataDir, values);
      default:
        return await checkpoints(reader, source.dataDir, values);
    }
  } finally {
    await reader.close();
  }
}

/** `2026-05-01`, `2026-05-01T12:00:00Z`, or an age: `30s`, `15m`, `2h`, `7d`, `4w` ago. */
export function parseTime(text: string, flag: string, now = Date.now()): number {
  const age = /^(\d+)(s|m|h|d|w)$/.exec(text);
  if (age) return now - Number(age[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[age[2] as 's']!;
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new UsageError(`${flag}: not a date, time or age: "${text}"`);
  return parsed;
}

function filterOf(values: Values): RecordFilter {
  const text = (name: string) => values[name] as string | undefined;
  const outcome = text('outcome');
  if (outcome !== undefined && !OUTCOMES.includes(outcome))
    throw new UsageError(`--outcome must be one of ${OUTCOMES.join(', ')}`);
  const decision = text('decision');
  if (decision !== undefined && decision !== 'allow' && decision !== 'deny')
    throw new UsageError('--decision must be allow or deny');
  const limit = text('limit');
  if (limit !== undefined && !/^[1-9]\d{0,6}$/.test(limit)) throw new UsageError('--limit must be a positive number');
  const filter: RecordFilter = {};
  if (text('since') !== undefined) filter.since = parseTime(text('since')!, '--since');
  if (text('until') !== undefined) filter.until = parseTime(text('until')!, '--until');
  for (const [flag, key] of [
    ['agent', 'agent'],
    ['task', 'task'],
    ['server', 'server'],
    ['tool', 'tool'],
  ] as const) {
    if (text(flag) !== undefined) filter[key] = text(flag)!;
  }
  if (outcome !== undefined) filter.outcome = outcome;
  if (decision !== undefined) filter.decision = decision;
  if (limit !== undefined) filter.limit = Number(limit);
  return filter;
}

function write(text: string): void {
  process.stdout.write(text);
}

async function list(reader: AuditReader, values: Values): Promise<number> {
  const filter = filterOf(values);
  if (values.events) {
    const events = await reader.listEvents({
      ...filter,
      ...(values.type !== undefined && { type: values.type as string }),
    });
    write(values.json ? `${safeJson(events.map(eventObject))}\n` : eventsTable(events));
    return EXIT.ok;
  }
  const records = await reader.listRecords(filter);
  write(values.json ? `${safeJson(records)}\n` : recordsTable(records));
  return EXIT.ok;
}

async function show(reader: AuditReader, rest: string[], values: Values): Promise<number> {
  if (rest.length !== 1) throw new UsageError('usage: mcp-warden audit show ID');
  const detail = await reader.getRecord(rest[0]!.toUpperCase());
  if (!detail) {
    process.stderr.write(`no record or event with id ${rest[0]}\n`);
    return EXIT.failure;
  }
  if (values.json) {
    if ('event' in detail) write(`${safeJson(eventObject(detail.event))}\n`);
    else
      write(
        `${safeJson({ ...recordObject(summaryOf(detail.intent, detail.outcome), detail.intent, detail.outcome), relays: detail.relays })}\n`,
      );
    return EXIT.ok;
  }
  write(showRecord(detail));
  return EXIT.ok;
}

async function tail(reader: AuditReader, values: Values): Promise<number> {
  const count = values.limit === undefined ? 20 : Number(values.limit);
  let last = 0;
  for (const e of await reader.lastEntries(count)) {
    write(tailLine(e));
    last = e.seq;
  }
  if (!values.follow) return EXIT.ok;
  let stopped = false;
  const stop = () => (stopped = true);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (last === 0) last = await reader.lastSeq();
  while (!stopped) {
    for (const e of await reader.entriesAfter(last, 1000)) {
      write(tailLine(e));
      last = e.seq;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return EXIT.ok;
}

async function output(values: Values, produce: (out: Writable) => void | Promise<void>): Promise<void> {
  const target = values.out as string | undefined;
  const out: Writable = target === undefined ? process.stdout : createWriteStream(target, { flags: 'wx', mode: 0o600 });
  await produce(out);
  if (target !== undefined) {
    out.end();
    await once(out, 'finish');
  }
}

async function exportCommand(reader: AuditReader, values: Values): Promise<number> {
  const format = values.format as string | undefined;
  if (format !== 'jsonl' && format !== 'csv') throw new UsageError('--format must be jsonl or csv');
  const filter = filterOf(values);
  await output(values, async (out) => {
    if (values.events) {
      if (format === 'csv') out.write(csvLine(EVENT_CSV_COLUMNS));
      for (const e of (
        await reader.listEvents({
          ...filter,
          limit: filter.limit ?? 1_000_000,
          ...(values.type !== undefined && { type: values.type as string }),
        })
      ).reverse()) {
        out.write(format === 'csv' ? csvLine(eventCsvCells(e)) : `${safeJson(eventObject(e))}\n`);
      }
      return;
    }
    if (format === 'csv') out.write(csvLine(RECORD_CSV_COLUMNS));
    for await (const { summary, intent, outcome } of reader.exportRecords(filter)) {
      out.write(
        format === 'csv'
          ? csvLine(recordCsvCells(summary, intent, outcome))
          : `${safeJson(recordObject(summary, intent, outcome))}\n`,
      );
    }
  });
  return EXIT.ok;
}

async function statsCommand(reader: AuditReader, values: Values): Promise<number> {
  const result = await reader.stats(filterOf(values));
  write(values.json ? `${safeJson(result)}\n` : statsText(result));
  return EXIT.ok;
}

function publicKeys(dataDir: string): Map<string, object> {
  try {
    return new KeyStore(dataDir).allPublicKeys();
  } catch {
    return new Map();
  }
}

async function verify(reader: AuditReader, dataDir: string, values: Values): Promise<number> {
  const against = values.against === undefined ? undefined : readExport(values.against as string);
  const report = await reader.verify(publicKeys(dataDir), against);
  write(values.json ? `${safeJson(report)}\n` : verifyText(reader.location, report));
  return report.ok ? EXIT.ok : EXIT.failure;
}

/** Reads an `audit checkpoints --export` file: a keys line, then one checkpoint per line. */
function readExport(path: string): ExternalCheckpoints {
  const keys = new Map<string, object>();
  const checkpoints: CheckpointRow[] = [];
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  for (const [index, line] of lines.entries()) {
    let parsed: { type?: unknown; keys?: { kid?: string }[] } & Partial<CheckpointRow>;
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      throw new WardenError('ERR_AUDIT_INVALID', `${path}:${index + 1}: not JSON`);
    }
    if (parsed.type === 'keys' && Array.isArray(parsed.keys)) {
      for (const k of parsed.keys) if (typeof k.kid === 'string') keys.set(k.kid, k);
    } else if (parsed.type === 'checkpoint' && typeof parsed.jws === 'string' && typeof parsed.seq === 'number')
      checkpoints.push(parsed as CheckpointRow);
    else throw new WardenError('ERR_AUDIT_INVALID', `${path}:${index + 1}: not a checkpoint export line`);
  }
  return { keys, checkpoints };
}

async function checkpoints(reader: AuditReader, dataDir: string, values: Values): Promise<number> {
  const rows = await reader.checkpoints();
  if (!values.export) {
    if (values.json) write(`${safeJson(rows)}\n`);
    else
      write(
        rows.length === 0
          ? 'no checkpoints\n'
          : table(
              ['id', 'entries', 'time', 'key', 'hash'],
              rows.map((c) => [c.id, c.seq, time(c.ts), c.kid, c.hash]),
              64,
            ),
      );
    return EXIT.ok;
  }
  const keys = [...publicKeys(dataDir).values()];
  await output(values, (out) => {
    out.write(`${JSON.stringify({ type: 'keys', keys })}\n`);
    for (const c of rows) out.write(`${JSON.stringify({ type: 'checkpoint', ...c })}\n`);
  });
  return EXIT.ok;
}

async function prune(source: Source, values: Values): Promise<number> {
  if (values.before === undefined) throw new UsageError('usage: mcp-warden audit prune --before DATE');
  const before = parseTime(values.before as string, '--before');
  const result = await pruneSource(source, before);
  if (!result) write(`nothing older than ${new Date(before).toISOString()} to prune\n`);
  else
    write(
      `pruned ${result.removed} entries (up to entry ${result.upTo}); the log now starts from anchor ${result.anchorHash}\n`,
    );
  return EXIT.ok;
}
