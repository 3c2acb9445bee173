import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { escapeControls } from '../audit/export.js';
import { localActor, recordAdminEvents } from '../audit/admin.js';
import { loadConfig } from '../config/load.js';
import { WardenError, isWardenError } from '../errors.js';
import { ApprovalStore, approvalEvent, effectiveStatus } from '../integrity/approvals.js';
import type { ApprovalRow } from '../integrity/types.js';
import { stateFile } from '../state/db.js';
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

/** `mcp-warden approvals list|show|approve|deny`. */
export async function runApprovals(
  ctx: CommandContext,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<number> {
  const flags = values as Flags;
  const [sub, ...rest] = positionals;
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const file = stateFile(loaded.dataDir);
  const now = Date.now();
  if (sub === 'list' && rest.length === 0) {
    if (!readable(file)) return write(flags.json ? '[]\n' : `no approvals recorded in ${file}\n`);
    const rows = withStore(file, true, (store) =>
      flags.all
        ? store.list({ limit: 200 })
        : store.list({ status: 'pending', limit: 1_000 }).filter((row) => effectiveStatus(row, now) === 'pending'),
    );
    if (flags.json) return write(`${prettyJson(rows.map((row) => view(row, now)))}\n`);
    return write(listTable(rows, now, flags.all === true));
  }
  if (sub === 'show' && rest.length === 1) {
    const row = readable(file) ? withStore(file, true, (store) => store.get(rest[0]!)) : undefined;
    if (!row) throw notFound(rest[0]!);
    return write(flags.json ? `${prettyJson(view(row, now))}\n` : details(row, now));
  }
  if ((sub === 'approve' || sub === 'deny') && rest.length === 1) {
    if (sub === 'approve' && flags.reason !== undefined) throw new UsageError('--reason goes with deny');
    if (flags.reason !== undefined && flags.reason.length > 500)
      throw new UsageError('--reason: at most 500 characters');
    if (!existsSync(file)) throw notFound(rest[0]!);
    const actor = localActor();
    const settings = { dataDir: loaded.dataDir, settings: loaded.config.audit, actor };
    // No audit, no action: a decision that will apply is recorded first, and applied only once recorded.
    const pending = withStore(file, false, (store) => store.get(rest[0]!));
    if (pending && pending.status === 'pending' && effectiveStatus(pending, now) === 'pending') {
      const intended: ApprovalRow = {
        ...pending,
        status: sub === 'approve' ? 'approved' : 'denied',
        decidedAt: now,
        decidedBy: actor,
        ...(flags.reason !== undefined && { reason: flags.reason }),
      };
      try {
        await recordAdminEvents(settings, [
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
    let decided: ReturnType<typeof decide>;
    try {
      decided = withStore(file, false, (store) => decide(store, sub, rest[0]!, actor, now, flags.reason));
    } catch (error) {
      // Recorded but not applied (decided elsewhere in between): the record says so too.
      if (pending?.status === 'pending')
        await recordAdminEvents(settings, [
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
        ]).catch(() => undefined);
      throw error;
    }
    const { row, expired } = decided;
    if (expired) {
      await recordAdminEvents(settings, [approvalEvent('approval.expire', expired, { via: 'cli' })]).catch(
        () => undefined,
      );
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
  throw new UsageError(
    'usage: mcp-warden approvals list [--all] [--json] | show ID [--json] | approve ID | deny ID [--reason TEXT]',
  );
}

/** Applies the decision; an approval found past its expiry is marked expired (and reported) instead. */
function decide(
  store: ApprovalStore,
  verb: 'approve' | 'deny',
  id: string,
  actor: string,
  now: number,
  reason: string | undefined,
): { row?: ApprovalRow; expired?: ApprovalRow } {
  try {
    return { row: verb === 'approve' ? store.approve(id, actor, now) : store.deny(id, actor, now, reason) };
  } catch (error) {
    if (!isWardenError(error, 'ERR_APPROVAL_CLOSED')) throw error;
    const current = store.get(id);
    if (current?.status === 'pending' && effectiveStatus(current, now) === 'expired') {
      const expired = store.expire(id, now);
      if (expired) return { expired };
    }
    throw error;
  }
}

function withStore<T>(file: string, readonly: boolean, run: (store: ApprovalStore) => T): T {
  const store = ApprovalStore.open(file, { readonly });
  try {
    return run(store);
  } finally {
    store.close();
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
