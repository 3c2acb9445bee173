import { statSync } from 'node:fs';
import { localActor, recordAdminEvents } from '../audit/admin.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { DEFAULT_CONSOLE_PORT, isLoopbackHost } from '../config/schema.js';
import { consoleInfoFile, readConsoleInfo } from '../console/info.js';
import { ConsoleSessions, isReviewer, type ConsoleSessionStore, type Reviewer } from '../console/sessions.js';
import { WardenError } from '../errors.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { loadPolicy } from '../policy/load.js';
import { policyFiles } from '../policy/setup.js';
import { stateFile } from '../state/db.js';
import { EXIT, UsageError, untilSignal, type CommandContext } from './common.js';
import { listenFailure } from './listen-error.js';

export const CONSOLE_USAGE = `mcp-warden console [--host H] [--port P]
mcp-warden console login --sub SUBJECT [--issuer ISS] [--url URL]

(no subcommand)  serve the reviewer console read-only from the data folder, without a gateway: the
                 feed, calls, tasks, tools, approvals, agents, charts and integrity; every action is
                 refused (use the console of a running "serve" for those). Binds 127.0.0.1 and the
                 config's console.port unless given; --port 0 picks a free one. Prints one line when
                 ready: "mcp-warden console listening on URL".
login            print a one-time sign-in link for SUBJECT, who must be listed under "reviewers" in the
                 policy. The code is in the link's fragment, valid once for console.loginCodeTtlSeconds
                 (120 s). The link points at the console recorded in <data-dir>/console.json, else --url.`;

export const CONSOLE_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string', short: 'p' },
  sub: { type: 'string' },
  issuer: { type: 'string' },
  url: { type: 'string' },
} as const;

/** The reviewers the configured policy names (none without a policy: nobody can sign in). */
export function configuredReviewers(loaded: LoadedConfig): readonly Reviewer[] {
  if (!loaded.config.policy) return [];
  return loadPolicy(policyFiles(loaded)).reviewers;
}

/**
 * The reviewers of the policy files as they are now, re-read when a file's modification time or size
 * changes (one `stat` per file per request otherwise): removing a reviewer ends their access at their next
 * request. A policy that cannot be read or is invalid lets nobody in until it is fixed (logged once per change).
 */
export function liveReviewers(loaded: LoadedConfig, logger: Logger): () => readonly Reviewer[] {
  if (!loaded.config.policy) return () => [];
  const files = policyFiles(loaded);
  let stamp: string | undefined;
  let reviewers: readonly Reviewer[] = [];
  return () => {
    let next: string;
    try {
      next = files
        .map((f) => {
          const st = statSync(f.path);
          return `${st.mtimeMs}:${st.size}:${st.ino}`;
        })
        .join('|');
    } catch (error) {
      if (stamp !== 'missing')
        logger.error(
          { err: error instanceof Error ? error.message : String(error) },
          'console: policy file unreadable; nobody can sign in until it is back',
        );
      stamp = 'missing';
      reviewers = [];
      return reviewers;
    }
    if (next === stamp) return reviewers;
    stamp = next;
    try {
      reviewers = loadPolicy(files).reviewers;
      logger.info({ reviewers: reviewers.length }, 'console: policy re-read');
    } catch (error) {
      reviewers = [];
      logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        'console: policy invalid; nobody can sign in until it is fixed',
      );
    }
    return reviewers;
  };
}

export async function runConsole(
  ctx: CommandContext,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<number> {
  const [sub, ...rest] = positionals;
  if (sub === 'login' && rest.length === 0) return login(ctx, values);
  if (sub === undefined) return serveReadOnly(ctx, values);
  throw new UsageError(
    'usage: mcp-warden console [--host H] [--port P] | console login --sub SUBJECT [--issuer ISS] [--url URL]',
  );
}

async function login(ctx: CommandContext, values: Record<string, unknown>): Promise<number> {
  const subject = values.sub as string | undefined;
  if (!subject) throw new UsageError('--sub SUBJECT is required');
  const issuer = values.issuer as string | undefined;
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const reviewers = configuredReviewers(loaded);
  if (!isReviewer(reviewers, subject, issuer)) {
    throw new WardenError(
      'ERR_USAGE',
      `${subject}${issuer ? ` (issuer ${issuer})` : ''} is not a reviewer: list it under "reviewers" in the policy (${(loaded.config.policy?.files ?? ['no policy configured']).join(', ')})`,
    );
  }
  const base = (values.url as string | undefined) ?? readConsoleInfo(loaded.dataDir)?.url ?? defaultUrl(loaded);
  let link: URL;
  try {
    link = new URL(base);
  } catch {
    throw new UsageError(`--url must be an absolute URL, got "${base}"`);
  }
  const now = Date.now();
  const store = loaded.config.store;
  // On PostgreSQL the code goes to the store every replica shares: it signs in on any of them.
  const sessions: ConsoleSessionStore =
    store.kind === 'postgres'
      ? await import('../console/pg-sessions.js').then(({ openPgConsoleSessions }) =>
          openPgConsoleSessions(store, loaded.baseDir),
        )
      : ConsoleSessions.open(stateFile(loaded.dataDir));
  let created: { code: string; expiresAt: number };
  try {
    created = await sessions.createLoginCode(
      { subject, ...(issuer !== undefined && { issuer }) },
      now,
      loaded.config.console.loginCodeTtlSeconds * 1000,
    );
  } finally {
    await sessions.close();
  }
  // Who asked for a way in is part of the record; the code itself never is.
  const events = [{ type: 'console.link', subject, data: { reviewer: subject, issuer, expiresAt: created.expiresAt } }];
  if (store.kind === 'postgres') {
    const { recordPgAdminEvents } = await import('../audit/pg/admin.js');
    await recordPgAdminEvents(
      { store, baseDir: loaded.baseDir, settings: loaded.config.audit, actor: localActor() },
      events,
    );
  } else
    await recordAdminEvents({ dataDir: loaded.dataDir, settings: loaded.config.audit, actor: localActor() }, events);
  link.hash = `login=${created.code}`;
  process.stdout.write(`${link.toString()}\n`);
  process.stderr.write(
    `one-time sign-in link for ${subject}, valid until ${new Date(created.expiresAt).toISOString()}${
      readConsoleInfo(loaded.dataDir)
        ? ''
        : ` (no console is running on ${loaded.dataDir}: start "mcp-warden serve" with console.enabled, or "mcp-warden console")`
    }\n`,
  );
  return EXIT.ok;
}

function defaultUrl(loaded: LoadedConfig): string {
  const { host, port = DEFAULT_CONSOLE_PORT } = loaded.config.console;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

async function serveReadOnly(ctx: CommandContext, values: Record<string, unknown>): Promise<number> {
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const host = (values.host as string | undefined) ?? loaded.config.console.host;
  const portText = values.port as string | undefined;
  const port = portText === undefined ? (loaded.config.console.port ?? DEFAULT_CONSOLE_PORT) : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`--port must be 0-65535, got "${portText}"`);
  const logger = createLogger({ level: loaded.config.logging.level });
  if (!isLoopbackHost(host)) logger.warn({ host }, 'the reviewer console is listening off loopback; put it behind TLS');
  const consoleLogger = logger.child({ component: 'console' });
  const reviewers = liveReviewers(loaded, consoleLogger);
  // Fail at start, as before, on a policy that does not load.
  configuredReviewers(loaded);
  // Sign-ins and sign-outs go to the shared chain, as this process's own short-lived instance (as links do).
  const { startConsole } = await import('../console/server.js');
  const server = await startConsole({
    dataDir: loaded.dataDir,
    settings: loaded.config.console,
    host,
    port,
    reviewers,
    auditSettings: loaded.config.audit,
    ...(loaded.config.store.kind === 'postgres' && {
      store: { config: loaded.config.store, baseDir: loaded.baseDir },
    }),
    logger: consoleLogger,
  }).catch((error: unknown) => {
    throw listenFailure(error, {
      listener: 'the reviewer console',
      host,
      port,
      fix:
        portText === undefined
          ? `set console.port in ${loaded.file} or pass --port PORT (0 picks a free port)`
          : 'pass another --port (0 picks a free port)',
    });
  });
  process.stdout.write(`mcp-warden console listening on ${server.url}\n`);
  process.stderr.write(
    `read-only reviewer console for ${loaded.dataDir} (${consoleInfoFile(loaded.dataDir)}); sign in with: mcp-warden console login --sub SUBJECT\n`,
  );
  await untilSignal(logger);
  await server.close();
  logger.flush();
  return EXIT.ok;
}
