import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { escapeControls } from '../audit/export.js';
import { localActor, recordAdminEvents } from '../audit/admin.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { WardenError, isWardenError } from '../errors.js';
import { ApprovalStore, approvalEvent, effectiveStatus, sqliteApprovals } from '../integrity/approvals.js';
import type { ApprovalRow } from '../integrity/types.js';
import { stateFile } from '../state/db.js';
import type { SharedApprovals } from '../state/shared.js';
import type { AuditEvent } from '../pipeline/stages.js';
import { table, time } from './audit-render.js';
import { EXIT, UsageError, type CommandContext } from './common.js';

export const APPROVALS_USAGE = `mcp-warden approvals list [--all] [--json]
mcp-warden approvals show ID [--json]
mcp-warden approvals approve ID
mcp-warden approvals deny ID [--reason TEXT]

list     approvals waiting for a person (--all: every approval, newest first, up to 200)
show     one approval: who asked, in which task, the tool, its definition hash and the exact arguments
approve  let the agent's identical call run once, before the approval expires
deny     refuse it; the agent's next identical call asks again

Calls that a policy grant marks "approval: required" wait for one. The agent's call is refused with the
approval id; after "approve", the agent repeats the identical call (same agent, task, tool, definition and
arguments) and it runs once. Every decision is written to the audit log as you ($USER@host).`;

export const APPROVALS_OPTIONS = {
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  reason: { type: 'string' },
} as const;

interface Flags {
  all?: boolean;
  json?: boolean;
  reason?: string;
}

/** Where the approvals are: `state.db` in the data folder, or the PostgreSQL store the config names. */
interface ApprovalsBackend {
  /** Where, for "no approvals recorded in …". */
  readonly where: string;
  /** Whether anything can have been recorded (a missing state.db holds nothing). */
  readonly recorded: boolean;
  read<T>(run: (store: SharedApprovals) => Promise<T>): Promise<T>;
  write<T>(run: (store: SharedApprovals) => Promise<T>): Promise<T>;
  /** Appends the reviewer's events to the audit log of the same store; throws when they cannot be written. */
  record(events: readonly AuditEvent[]): Promise<void>;
  close(): Promise<void>;
}

function sqliteBackend(loaded: LoadedConfig, actor: string): ApprovalsBackend {
  const file = stateFile(loaded.dataDir);
  const withStore = async <T>(readonly: boolean, run: (store: SharedApprovals) => Promise<T>): Promise<T> => {
    const store = ApprovalStore.open(file, { readonly });
    try {
      return await run(sqliteApprovals(store));
    } finally {
      store.close();
    }
  };
  return {
    where: file,
    recorded: readable(file),
    read: (run) => withStore(true, run),
    write: (run) => withStore(false, run),
    record: (events) => recordAdminEvents({ dataDir: loaded.dataDir, settings: loaded.config.audit, actor }, events),
    close: async () => undefined,
  };
}

/** `mcp-warden approvals list|show|approve|deny`. */
export async function runApprovals(
  ctx: CommandContext,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<number> {
  const flags = values as Flags;
  const [sub, ...rest] = positionals;
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const listing = (sub === 'list' && rest.length === 0) || (sub === 'show' && rest.length === 1);
  const deciding = (sub === 'approve' || sub === 'deny') && rest.length === 1;
  if (!listing && !deciding)
    throw new UsageError(
      'usage: mcp-warden approvals list [--all] [--json] | show ID [--json] | approve ID | deny ID [--reason TEXT]',
    );
  if (sub === 'approve' && flags.reason !== undefined) throw new UsageError('--reason goes with deny');
  if (flags.reason !== undefined && flags.reason.length > 500) throw new UsageError('--reason: at most 500 characters');
  const actor = localActor();
  const store = loaded.config.store;
  const backend =
    store.kind === 'postgres'
      ? (await import('./pg-approvals.js')).pgApprovalsBackend(loaded, store, actor)
      : sqliteBackend(loaded, actor);
  try {
    return await runOn(await backend, sub as 'list' | 'show' | 'approve' | 'deny', rest[0], flags, actor);
  } finally {
    await (await backend).close();
  }
}

async function runOn(
  backend: ApprovalsBackend,
  sub: 'list' | 'show' | 'approve' | 'deny',
  id: string | undefined,
  flags: Flags,
  actor: string,
): Promise<number> {
  const now = Date.now();
  if (sub === 'list') {
    if (!backend.recorded) return write(flags.json ? '[]\n' : `no approvals recorded in ${backend.where}\n`);
    const rows = await backend.read(async (store) =>
      flags.all
        ? store.listApprovals({ limit: 200 })
        : (await store.listApprovals({ status: 'pending', limit: 1_000 })).filter(
            (row) => effectiveStatus(row, now) === 'pending',
          ),
    );
    if (flags.json) return write(`${prettyJson(rows.map((row) => view(row, now)))}\n`);
    return write(listTable(rows, now, flags.all === true));
  }
  if (sub === 'show') {
    const row = backend.recorded ? await backend.read((store) => store.getApproval(id!)) : undefined;
    if (!row) throw notFound(id!);
    return write(flags.json ? `${prettyJson(view(row, now))}\n` : details(row, now));
  }
  if (!backend.recorded) throw notFound(id!);
  // No audit, no action: a decision that will apply is recorded first, and applied only once recorded.
  const pending = await backend.write((store) => store.getApproval(id!));
  if (pending && pending.status === 'pending' && effectiveStatus(pending, now) === 'pending') {
    const intended: ApprovalRow = {
      ...pending,
      status: sub === 'approve' ? 'approved' : 'denied',
      decidedAt: now,
      decidedBy: actor,
      ...(flags.reason !== undefined && { reason: flags.reason }),
    };
    try {
      await backend.record([
        approvalEvent(sub === 'approve' ? 'approval.grant' : 'approval.deny', intended, { via: 'cli' }),
      ]);
    } catch (error) {
      throw new WardenError(
        'ERR_AUDIT_UNAVAILABLE',
        `approval ${pending.id} was NOT ${sub === 'approve' ? 'approved' : 'denied'}: the decision could not be written to the audit log (${error instanceof Error ? error.message : String(error)}); nothing changed`,
        { cause: error },
      );
    }
  }
  let decided: Awaited<ReturnType<typeof decide>>;
  try {
    decided = await backend.write((store) => decide(store, sub, id!, actor, now, flags.reason));
  } catch (error) {
    // Recorded but not applied (decided elsewhere in between): the record says so too.
    if (pending?.status === 'pending')
      await backend
        .record([
          {
            type: 'approval.decision.failed',
            subject: pending.subject,
            target: pending.tool,
            data: {
              approvalId: pending.id,
              verb: sub,
              error: error instanceof Error ? error.message : String(error),
              via: 'cli',
            },
          },
        ])
        .catch(() => undefined);
    throw error;
  }
  const { row, expired } = decided;
  if (expired) {
    await backend.record([approvalEvent('approval.expire', expired, { via: 'cli' })]).catch(() => undefined);
    throw new WardenError(
      'ERR_APPROVAL_CLOSED',
      `cannot ${sub} approval ${expired.id}: it expired at ${time(expired.expiresAt)}; the agent's next identical call asks for a new one`,
    );
  }
  const s = row!.summary;
  return write(
    sub === 'approve'
      ? `approved ${row!.id}: ${s.tool} for ${row!.subject} may run once, with exactly these arguments, until ${time(row!.expiresAt)} (the agent repeats the call)\n`
      : `denied ${row!.id}: ${s.tool} for ${row!.subject}${row!.reason ? ` (${row!.reason})` : ''}\n`,
  );
}

/** Applies the decision; an approval found past its expiry is marked expired (and reported) instead. */
async function decide(
  store: SharedApprovals,
  verb: 'approve' | 'deny',
  id: string,
  actor: string,
  now: number,
  reason: string | undefined,
): Promise<{ row?: ApprovalRow; expired?: ApprovalRow }> {
  try {
    return {
      row:
        verb === 'approve'
          ? await store.approveApproval(id, actor, now)
          : await store.denyApproval(id, actor, now, reason),
    };
  } catch (error) {
    if (!isWardenError(error, 'ERR_APPROVAL_CLOSED')) throw error;
    const current = await store.getApproval(id);
    if (current?.status === 'pending' && effectiveStatus(current, now) === 'expired') {
      const expired = await store.expireApproval(id, now);
      if (expired) return { expired };
    }
    throw error;
  }
}

/** Reading never migrates: a state.db written by an older gateway (or none at all) holds no approvals yet. */
function readable(file: string): boolean {
  if (!existsSync(file)) return false;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'approvals'").get() !== undefined;
  } finally {
    db.close();
  }
}

function notFound(id: string): WardenError {
  return new WardenError(
    'ERR_APPROVAL_NOT_FOUND',
    `no approval with id ${escapeControls(id)} (see mcp-warden approvals list --all)`,
  );
}

function write(text: string): number {
  process.stdout.write(text);
  return EXIT.ok;
}

/** The row as JSON output shows it: the status as of now, times as ISO strings too. */
function view(row: ApprovalRow, now: number): Record<string, unknown> {
  return {
    ...row,
    status: effectiveStatus(row, now),
    storedStatus: row.status,
    expiresAtIso: new Date(row.expiresAt).toISOString(),
  };
}

function listTable(rows: readonly ApprovalRow[], now: number, all: boolean): string {
  if (rows.length === 0)
    return all ? 'no approvals recorded\n' : 'no approvals waiting (--all shows decided and expired ones)\n';
  return table(
    ['id', 'status', 'channel', 'agent', 'task', 'tool', 'arguments', 'expires'],
    rows.map((r) => [
      r.id,
      effectiveStatus(r, now),
      r.channel,
      r.subject,
      r.taskId,
      r.tool,
      compact(r.summary.arguments),
      time(r.expiresAt),
    ]),
  );
}

/** Indented JSON with every unsafe character inside its strings shown as an escape (the line breaks are JSON's own). */
function prettyJson(value: unknown): string {
  return (JSON.stringify(value, null, 2) ?? 'null').split('\n').map(escapeControls).join('\n');
}

function compact(value: unknown): string {
  return JSON.stringify(value) ?? '';
}

/** `approvals show`: everything a person needs to decide, every value escaped (it came from an agent). */
function details(row: ApprovalRow, now: number): string {
  const s = row.summary;
  const lines = [
    `approval ${row.id}  ${effectiveStatus(row, now)}  (${row.channel})`,
    `  tool        ${s.tool}  (server ${row.server})`,
    `  agent       ${row.subject}  (issuer ${row.issuer})`,
    `  task        ${s.task ? `${s.task.id}${s.task.purpose ? `: ${s.task.purpose}` : ''}` : '-'}`,
    `  definition  ${row.definitionHash}`,
    `  arguments   ${row.argumentsDigest}`,
    `  requested   ${time(row.createdAt)}  by call ${row.callId ?? '-'}`,
    `  expires     ${time(row.expiresAt)}`,
    ...(row.decidedAt !== undefined
      ? [`  decided     ${time(row.decidedAt)}  by ${row.decidedBy ?? '-'}${row.reason ? `: ${row.reason}` : ''}`]
      : []),
    ...(row.usedAt !== undefined ? [`  used        ${time(row.usedAt)}`] : []),
  ].map(escapeControls);
  const args = prettyJson(s.arguments)
    .split('\n')
    .map((line) => `    ${line}`);
  return `${[...lines, '', '  the exact arguments (credentials blanked, large values cut):', ...args].join('\n')}\n`;
}
