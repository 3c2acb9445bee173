// `serve` and `stdio`: the flags and the configuration are checked here, and the gateway's wiring
// (runtime.ts: the SDK, the stores, every stage) is imported only once they are valid, so a start that
// fails on a bad flag or config costs what loading the config costs, not a gateway's start.
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { isLoopbackHost } from '../config/schema.js';
import { WardenError } from '../errors.js';
import { UsageError, type CommandContext } from './common.js';

export async function runServe(
  ctx: CommandContext,
  flags: { host: string | undefined; port: string | undefined; demo: boolean },
): Promise<number> {
  const port = flags.port === undefined ? undefined : Number(flags.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535))
    throw new UsageError(`--port must be 0-65535, got "${flags.port}"`);
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const host = flags.host ?? loaded.config.gateway.host;
  refuseUnsafe(loaded, host);
  return (await import('./runtime.js')).serveGateway(loaded, { host, port, demo: flags.demo });
}

export async function runStdio(ctx: CommandContext, flags: { tokenFile: string | undefined }): Promise<number> {
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  refuseUnsafe(loaded, undefined);
  return (await import('./runtime.js')).stdioGateway(loaded, flags);
}

/** An unsafe start is refused before anything is created or spawned. */
function refuseUnsafe(loaded: LoadedConfig, bindHost: string | undefined): void {
  const auth = loaded.config.auth;
  if (!auth) {
    throw new WardenError(
      'ERR_UNSAFE_STARTUP',
      `${loaded.file}: no "auth" section. Configure token verification ("auth": {"mode": "jwt", ...}; see README, Identity), ` +
        `or, for local development only, "auth": {"mode": "unauthenticated-local"}.`,
    );
  }
  if (auth.mode === 'unauthenticated-local' && bindHost !== undefined && !isLoopbackHost(bindHost)) {
    throw new WardenError(
      'ERR_UNSAFE_STARTUP',
      `refusing to serve unauthenticated-local mode on non-loopback address ${bindHost}`,
    );
  }
}
