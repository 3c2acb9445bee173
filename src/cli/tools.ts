import { existsSync } from 'node:fs';
import { localActor, recordAdminEvents } from '../audit/admin.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { WardenError } from '../errors.js';
import { definitionDiff } from '../integrity/diff.js';
import { PinStore, pinEvent, sqlitePins, type SharedPins } from '../integrity/pins.js';
import type { DefinitionKind, PinRow, PinStatus } from '../integrity/types.js';
import { cleanLabel } from '../model/sanitize.js';
import type { AuditEvent } from '../pipeline/stages.js';
import { stateFile } from '../state/db.js';
import { checkPinDecision } from '../state/pin-rows.js';
import { EXIT, UsageError, type CommandContext } from './common.js';
import { STATUSES, iso, summary, table } from './tools-render.js';

export const TOOLS_USAGE = `mcp-warden tools list [--status S] [--server ID] [--json]
mcp-warden tools diff TOOL [--kind tool|prompt] [--json]
mcp-warden tools approve TOOL [--hash H] [--kind tool|prompt]
mcp-warden tools reject TOOL [--hash H] [--kind tool|prompt]

TOOL is the name agents see (notes__read_note) or SERVER/NAME (notes/read_note); prompts too.

list     every tool and prompt definition a gateway on this data folder has seen, with its status:
         pinned, quarantined (changed since it was approved), pending (never approved, on a
         require-approval server) or rejected; --status and --server filter
diff     the approved definition against the one the server presents now, field by field; hidden
         characters are shown as \\u{...} escapes
approve  pin the current definition: every gateway on the data folder offers it again from its next
         list or call. --hash: only if the current definition still has this hash (what you reviewed)
reject   refuse the current definition: it stays hidden and refused until the server changes it

Decisions are recorded in the audit log as tool.approve / tool.reject events, with both hashes.`;

export const TOOLS_OPTIONS = {
  status: { type: 'string' },
  server: { type: 'string' },
  kind: { type: 'string' },
  hash: { type: 'string' },
  json: { type: 'boolean' },
} as const;

interface ToolsFlags {
  status?: string;
  server?: string;
  kind?: string;
  hash?: string;
  json?: boolean;
}

/** Where the pins are: `state.db` in the data folder, or the PostgreSQL store the config names. */
interface PinsBackend {
  /** Where, for "no tool definitions recorded yet in …". */
  readonly where: string;
  /** Whether anything can have been recorded (a missing state.db holds nothing). */
  readonly recorded: boolean;
  read<T>(run: (store: SharedPins) => Promise<T>): Promise<T>;
  write<T>(run: (store: SharedPins) => Promise<T>): Promise<T>;
  /** Appends the reviewer's events to the audit log of the same store; throws when they cannot be written. */
  record(events: readonly AuditEvent[]): Promise<void>;
  close(): Promise<void>;
}

function sqliteBackend(loaded: LoadedConfig, actor: string): PinsBackend {
  const file = stateFile(loaded.dataDir);
  const withStore = async <T>(readonly: boolean, run: (store: SharedPins) => Promise<T>): Promise<T> => {
    const store = PinStore.open(file, { readonly });
    try {
      return await run(sqlitePins(store));
    } finally {
      store.close();
    }
  };
  return {
    where: file,
    recorded: existsSync(file),
    read: (run) => withStore(true, run),
    write: (run) => withStore(false, run),
    record: (events) => recordAdminEvents({ dataDir: loaded.dataDir, settings: loaded.config.audit, actor }, events),
    close: async () => undefined,
  };
}

/** `mcp-warden tools list|diff|approve|reject`. */
export async function runTools(ctx: CommandContext, positionals: string[], flags: ToolsFlags): Promise<number> {
  const [sub, ref, ...rest] = positionals;
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const listing = sub === 'list' && ref === undefined;
  if (!listing && (rest.length > 0 || ref === undefined))
    throw new UsageError(`usage: ${TOOLS_USAGE.split('\n\n')[0]!.split('\n').join(' | ')}`);
  if (!listing && sub !== 'diff' && sub !== 'approve' && sub !== 'reject')
    throw new UsageError('usage: mcp-warden tools list | diff TOOL | approve TOOL [--hash H] | reject TOOL [--hash H]');
  if (listing && flags.status !== undefined && !(STATUSES as readonly string[]).includes(flags.status))
    throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, got "${flags.status}"`);
  const kind = kindFlag(flags.kind);
  const actor = localActor();
  const store = loaded.config.store;
  const backend =
    store.kind === 'postgres'
      ? await (await import('./pg-approvals.js')).pgApprovalsBackend(loaded, store, actor)
      : sqliteBackend(loaded, actor);
  try {
    if (listing) return await list(backend, flags);
    if (sub === 'diff') return await diff(backend, ref!, kind, flags.json === true);
    return await decide(loaded, backend, actor, sub as 'approve' | 'reject', ref!, kind, flags.hash);
  } finally {
    await backend.close();
  }
}

function kindFlag(kind: string | undefined): DefinitionKind | undefined {
  if (kind === undefined || kind === 'tool' || kind === 'prompt') return kind;
  throw new UsageError(`--kind must be tool or prompt, got "${kind}"`);
}

async function list(backend: PinsBackend, flags: ToolsFlags): Promise<number> {
  if (!backend.recorded) {
    process.stdout.write(
      flags.json
        ? '[]\n'
        : `no tool definitions recorded yet in ${backend.where} (a gateway records them when it starts)\n`,
    );
    return EXIT.ok;
  }
  const rows = await backend.read((store) =>
    store.listPins({
      ...(flags.status !== undefined && { status: flags.status as PinStatus }),
      ...(flags.server !== undefined && { server: flags.server }),
    }),
  );
  if (flags.json) {
    const out = rows.map(({ pinnedDefinition: _p, currentDefinition: _c, ...row }) => row);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    process.stdout.write(table(rows));
  }
  return EXIT.ok;
}

async function diff(
  backend: PinsBackend,
  ref: string,
  kind: DefinitionKind | undefined,
  json: boolean,
): Promise<number> {
  recordedIn(backend);
  const row = await backend.read((store) => resolveRef(backend, store, ref, kind));
  const entries = definitionDiff(row.pinnedDefinition, row.currentDefinition);
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...summary(row), changes: entries }, null, 2)}\n`);
    return EXIT.ok;
  }
  const lines = [
    `${row.kind} ${row.exposed} (server ${row.server}, downstream name ${row.name}): ${row.status}`,
    `pinned   ${row.pinnedHash ?? '(none: never approved)'}${row.pinnedHash ? `  (${row.decidedBy ? `approved by ${cleanLabel(row.decidedBy)}` : 'trusted on first use'}${row.decidedAt ? ` at ${iso(row.decidedAt)}` : ''})` : ''}`,
    `current  ${row.currentHash}  (seen ${iso(row.updatedAt)})`,
    `flags    ${row.flags.length > 0 ? row.flags.join(', ') : '(none)'}`,
    '',
  ];
  if (row.pinnedHash === row.currentHash) lines.push('no difference: the current definition is the pinned one');
  else if (row.pinnedDefinition === undefined) lines.push('never approved; the whole current definition:');
  for (const entry of entries) {
    lines.push(`  ${entry.path}`);
    if (entry.before !== undefined) lines.push(`  - ${entry.before}`);
    if (entry.after !== undefined) lines.push(`  + ${entry.after}`);
  }
  if (row.status !== 'pinned')
    lines.push(
      '',
      `approve: mcp-warden tools approve ${refOf(row)} --hash ${row.currentHash}`,
      `reject:  mcp-warden tools reject ${refOf(row)} --hash ${row.currentHash}`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

async function decide(
  loaded: LoadedConfig,
  backend: PinsBackend,
  actor: string,
  verb: 'approve' | 'reject',
  ref: string,
  kind: DefinitionKind | undefined,
  hash: string | undefined,
): Promise<number> {
  recordedIn(backend);
  const after = await backend.write(async (store) => {
    const before = await resolveRef(backend, store, ref, kind);
    const key = { server: before.server, kind: before.kind, name: before.name };
    // Without --hash, the decision is bound to the definition read just now, so the event names what was decided.
    const expected = hash ?? before.currentHash;
    // No audit, no action: a decision that will apply is recorded first (the store's own checks, made
    // here too so that a refused decision writes no event), then applied.
    checkPinDecision(key, before, verb, expected);
    const status = verb === 'approve' ? 'pinned' : 'rejected';
    const event = pinEvent(
      verb === 'approve' ? 'tool.approve' : 'tool.reject',
      { ...before, hash: before.currentHash },
      {
        previousHash: before.pinnedHash ?? null,
        previousStatus: before.status,
        status,
      },
    );
    try {
      await backend.record([event]);
    } catch (error) {
      throw new WardenError(
        'ERR_AUDIT_UNAVAILABLE',
        `${before.kind} ${before.exposed} was NOT ${verb === 'approve' ? 'approved' : 'rejected'}: the decision could not be written to the audit log (${(error as Error).message}); nothing changed`,
        { cause: error },
      );
    }
    try {
      return verb === 'approve'
        ? await store.approvePin(key, actor, Date.now(), expected)
        : await store.rejectPin(key, actor, Date.now(), expected);
    } catch (error) {
      // Recorded but not applied (the definition changed in between): the record says so too.
      await backend
        .record([
          {
            type: 'tool.decision.failed',
            target: before.exposed,
            server: before.server,
            data: { kind: before.kind, name: before.name, verb, hash: expected, error: (error as Error).message },
          },
        ])
        .catch(() => undefined);
      throw error;
    }
  });
  const where = loaded.config.store.kind === 'postgres' ? 'the shared store' : loaded.dataDir;
  process.stdout.write(
    verb === 'approve'
      ? `approved ${after.kind} ${after.exposed} at ${after.currentHash}: every gateway on ${where} offers it from its next list or call\n`
      : `rejected ${after.kind} ${after.exposed} at ${after.currentHash}: it stays hidden and refused until the server presents another definition\n`,
  );
  return EXIT.ok;
}

function recordedIn(backend: PinsBackend): void {
  if (!backend.recorded)
    throw new WardenError(
      'ERR_PIN_NOT_FOUND',
      `no tool definitions recorded yet in ${backend.where} (a gateway records them when it starts)`,
    );
}

async function resolveRef(
  backend: PinsBackend,
  store: SharedPins,
  ref: string,
  kind: DefinitionKind | undefined,
): Promise<PinRow> {
  const rows = (await store.findPins(ref)).filter((row) => kind === undefined || row.kind === kind);
  if (rows.length === 0)
    throw new WardenError(
      'ERR_PIN_NOT_FOUND',
      `no ${kind ?? 'tool or prompt'} named ${cleanLabel(ref)} has been seen by a gateway on ${backend.where} (see mcp-warden tools list)`,
    );
  if (rows.length > 1) {
    throw new WardenError(
      'ERR_PIN_AMBIGUOUS',
      `${cleanLabel(ref)} names ${rows.map((r) => `${r.kind} ${r.server}/${r.name}`).join(' and ')}; add --kind tool or --kind prompt, or use SERVER/NAME`,
    );
  }
  return rows[0]!;
}

function refOf(row: PinRow): string {
  return `${row.exposed}${row.kind === 'prompt' ? ' --kind prompt' : ''}`;
}
