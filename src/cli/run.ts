import { mkdirSync } from 'node:fs';
import { LogAuditSink } from '../audit/log-sink.js';
import { isLoopbackHost } from '../config/schema.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { WardenError } from '../errors.js';
import { Gateway } from '../gateway/gateway.js';
import { LocalAuthenticator, type RequestAuthenticator } from '../identity/authenticator.js';
import { localPrincipal } from '../identity/principal.js';
import { startHttpIngress } from '../ingress/http.js';
import { startStdioIngress } from '../ingress/stdio.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { EscapeScrubber } from '../pipeline/scrub.js';
import { LocalDevAuthorizer } from '../policy/local-dev.js';
import { NoSecrets } from '../secrets/none.js';
import { EXIT, UsageError, type CommandContext } from './common.js';

interface Runtime {
  loaded: LoadedConfig;
  logger: Logger;
  gateway: Gateway;
  authenticator: RequestAuthenticator;
}

/** Loads the config and refuses an unsafe start before anything is spawned. */
async function prepare(ctx: CommandContext, bindHost: string | undefined): Promise<Runtime> {
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const logger = createLogger({ level: loaded.config.logging.level });
  const auth = loaded.config.auth;
  if (!auth) {
    throw new WardenError(
      'ERR_UNSAFE_STARTUP',
      `${loaded.file}: no "auth" section. Token verification is not available in this version; to run without ` +
        `authentication for local development, add "auth": {"mode": "unauthenticated-local"}.`,
    );
  }
  if (bindHost !== undefined && !isLoopbackHost(bindHost)) {
    throw new WardenError('ERR_UNSAFE_STARTUP', `refusing to serve unauthenticated-local mode on non-loopback address ${bindHost}`);
  }
  logger.warn(
    { authMode: auth.mode, subject: auth.subject },
    'UNAUTHENTICATED LOCAL MODE: every caller is treated as the local principal; every action is recorded as unauthenticated. Do not expose this gateway.',
  );
  mkdirSync(loaded.dataDir, { recursive: true, mode: 0o700 });
  const gateway = new Gateway(loaded, logger, {
    authorizer: new LocalDevAuthorizer(),
    audit: new LogAuditSink(logger.child({ component: 'audit' })),
    secrets: new NoSecrets(),
    scrubber: new EscapeScrubber(),
    now: Date.now,
  });
  return { loaded, logger, gateway, authenticator: new LocalAuthenticator(auth.subject) };
}

export async function runServe(ctx: CommandContext, flags: { host: string | undefined; port: string | undefined }): Promise<number> {
  const port = flags.port === undefined ? undefined : Number(flags.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535)) throw new UsageError(`--port must be 0-65535, got "${flags.port}"`);
  const preliminary = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const host = flags.host ?? preliminary.config.gateway.host;
  const runtime = await prepare(ctx, host);
  const { gateway, logger, loaded } = runtime;
  await startOrStop(gateway);
  const ingress = await startHttpIngress({
    gateway,
    settings: loaded.config.gateway,
    host,
    port: port ?? loaded.config.gateway.port,
    authenticator: runtime.authenticator,
    logger,
  });
  process.stdout.write(`mcp-warden listening on ${ingress.url}\n`);
  await untilSignal(logger);
  await ingress.close();
  await gateway.stop();
  logger.flush();
  return EXIT.ok;
}

export async function runStdio(ctx: CommandContext): Promise<number> {
  const runtime = await prepare(ctx, undefined);
  const { gateway, logger, loaded } = runtime;
  await startOrStop(gateway);
  const principal = localPrincipal(loaded.config.auth?.subject ?? 'local-dev');
  const ingress = await startStdioIngress(gateway, () => principal);
  await Promise.race([ingress.closed, untilSignal(logger)]);
  await ingress.close();
  await gateway.stop();
  logger.flush();
  return EXIT.ok;
}

async function startOrStop(gateway: Gateway): Promise<void> {
  try {
    await gateway.start();
  } catch (error) {
    await gateway.stop();
    throw error;
  }
}

function untilSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
