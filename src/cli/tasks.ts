import { existsSync } from 'node:fs';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { WardenError } from '../errors.js';
import { cleanLabel } from '../model/sanitize.js';
import { TaskStore, stateFile, type TaskRow } from '../tasks/store.js';
import { EXIT, UsageError, type CommandContext } from './common.js';

/** The PostgreSQL revocations, imported only with a postgres config (serve imports this file). */
const pgRevoke = () => import('./pg-revoke.js');

function load(ctx: CommandContext): LoadedConfig {
  return loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
}

/** `mcp-warden task list [--all] [--json]` and `mcp-warden task revoke ID`. */
export async function runTask(
  ctx: CommandContext,
  positionals: string[],
  flags: { all?: boolean; json?: boolean },
): Promise<number> {
  const [sub, ...rest] = positionals;
  const loaded = load(ctx);
  const dataDir = loaded.dataDir;
  const file = stateFile(dataDir);
  if (sub === 'revoke' && rest.length === 1 && loaded.config.store.kind === 'postgres')
    return (await pgRevoke()).pgRevokeTask(loaded, rest[0]!);
  if (sub === 'list' && rest.length === 0 && loaded.config.store.kind === 'postgres') {
    const now = Date.now();
    return writeTasks(await (await pgRevoke()).pgListTasks(loaded, { all: flags.all === true, now }), now, flags.json);
  }
  if (sub === 'list' && rest.length === 0) {
    if (!existsSync(file)) {
      process.stdout.write(flags.json ? '[]\n' : `no tasks recorded in ${file}\n`);
      return EXIT.ok;
    }
    const store = TaskStore.open(file, { readonly: true });
    try {
      const now = Date.now();
      return writeTasks(store.list({ all: flags.all === true, now }), now, flags.json);
    } finally {
      store.close();
    }
  }
  if (sub === 'revoke' && rest.length === 1) {
    const id = rest[0]!;
    const store = TaskStore.open(file);
    try {
      const { ended, unseen } = store.revokeTask(id, Date.now());
      if (unseen) {
        process.stdout.write(
          `revoked task ${id}: no gateway has seen it yet; every gateway on ${dataDir} refuses a token naming it, or delegated within it, whenever one shows up\n`,
        );
        return EXIT.ok;
      }
      if (ended === 0)
        throw new WardenError(
          'ERR_TASK_NOT_FOUND',
          store.isRevokedById(id)
            ? `task ${id} is already revoked`
            : `no open task with id ${id} (see mcp-warden task list)`,
        );
      process.stdout.write(`revoked task ${id}: every gateway on ${dataDir} refuses it from its next call\n`);
      return EXIT.ok;
    } finally {
      store.close();
    }
  }
  throw new UsageError('usage: mcp-warden task list [--all] [--json] | task revoke ID');
}

/** `mcp-warden agent revoke SUBJECT [--issuer ISS] [--reason TEXT]`. */
export async function runAgent(
  ctx: CommandContext,
  positionals: string[],
  flags: { issuer?: string; reason?: string },
): Promise<number> {
  const [sub, subject, ...rest] = positionals;
  if (sub !== 'revoke' || !subject || rest.length > 0)
    throw new UsageError('usage: mcp-warden agent revoke SUBJECT [--issuer ISS] [--reason TEXT]');
  const loaded = load(ctx);
  if (loaded.config.store.kind === 'postgres')
    return (await pgRevoke()).pgRevokeAgent(loaded, {
      subject,
      issuer: flags.issuer ?? '*',
      ...(flags.reason !== undefined && { reason: flags.reason }),
    });
  const dataDir = loaded.dataDir;
  const store = TaskStore.open(stateFile(dataDir));
  try {
    const revokedAt = Date.now();
    const tasks = store.revokeAgent({
      subject,
      issuer: flags.issuer ?? '*',
      revokedAt,
      ...(flags.reason !== undefined && { reason: flags.reason }),
    });
    process.stdout.write(
      `revoked agent ${subject}${flags.issuer ? ` (issuer ${flags.issuer})` : ''}: tokens issued up to ${new Date(revokedAt).toISOString()} are refused ` +
        `from the next call on every gateway using ${dataDir}; ${tasks} open task${tasks === 1 ? '' : 's'} revoked. Issue a new token to let it back in.\n`,
    );
    return EXIT.ok;
  } finally {
    store.close();
  }
}

function writeTasks(tasks: readonly TaskRow[], now: number, json: boolean | undefined): number {
  if (json)
    process.stdout.write(
      `${JSON.stringify(
        tasks.map((t) => ({ ...t, status: statusOf(t, now) })),
        null,
        2,
      )}\n`,
    );
  else process.stdout.write(table(tasks, now));
  return EXIT.ok;
}

function statusOf(task: TaskRow, now: number): string {
  if (task.endReason) return task.endReason;
  if (task.expiresAt !== undefined && task.expiresAt <= now) return 'expired';
  return 'active';
}

function table(tasks: readonly TaskRow[], now: number): string {
  if (tasks.length === 0) return 'no active tasks (--all shows ended ones)\n';
  const rows = tasks.map((t) =>
    [
      t.id,
      t.subject,
      t.source,
      statusOf(t, now),
      t.expiresAt === undefined ? '-' : new Date(t.expiresAt).toISOString(),
      t.grants ? t.grants.join(',') : '(not narrowed)',
      t.purpose ?? '',
    ].map(cleanLabel),
  );
  const header = ['ID', 'SUBJECT', 'SOURCE', 'STATUS', 'EXPIRES', 'GRANTS', 'PURPOSE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return (
    [header, ...rows]
      .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
      .join('\n') + '\n'
  );
}

/** `mcp-warden token revoke TOKEN_ID [--reason TEXT]`: the token and every token delegated from it are refused. */
export async function runTokenRevoke(
  ctx: CommandContext,
  positionals: string[],
  reason: string | undefined,
): Promise<number> {
  const [tokenId, ...rest] = positionals;
  if (!tokenId || rest.length > 0) throw new UsageError('usage: mcp-warden token revoke TOKEN_ID [--reason TEXT]');
  const loaded = load(ctx);
  if (loaded.config.store.kind === 'postgres') return (await pgRevoke()).pgRevokeToken(loaded, tokenId, reason);
  const dataDir = loaded.dataDir;
  const store = TaskStore.open(stateFile(dataDir));
  try {
    const added = store.revokeToken(tokenId, Date.now(), reason);
    process.stdout.write(
      `${added ? 'revoked' : 'already revoked:'} token ${tokenId}: it and every token delegated from it are refused from the next call on every gateway using ${dataDir}\n`,
    );
    return EXIT.ok;
  } finally {
    store.close();
  }
}
