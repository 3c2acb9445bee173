import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { JwtAuthConfig } from '../config/schema.js';
import { WardenError, isWardenError } from '../errors.js';
import { issueToken, parseDuration } from '../identity/issue.js';
import { KeyStore } from '../state/keys.js';
import { buildVerifier, resourceOf } from '../identity/setup.js';
import { OtherReplicaKeys } from '../identity/jwks.js';
import type { TokenVerifier } from '../identity/verify.js';
import { EXIT, UsageError, type CommandContext } from './common.js';
import { runTokenRevoke } from './tasks.js';

/** The gateway's canonical resource URI when the config names none. */
export function defaultResource(loaded: LoadedConfig): string {
  const { host, port } = loaded.config.gateway;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/mcp`;
}

export interface JwtSetup {
  auth: JwtAuthConfig;
  keys: KeyStore;
  /** The built-in issuer's keys other replicas published; `serve` feeds it once the shared store is open. */
  otherKeys: OtherReplicaKeys;
  verifier: TokenVerifier;
  resource: string;
}

export function jwtSetup(loaded: LoadedConfig): JwtSetup | undefined {
  const auth = loaded.config.auth;
  if (auth?.mode !== 'jwt') return undefined;
  const keys = new KeyStore(loaded.dataDir);
  const resource = resourceOf(auth, defaultResource(loaded));
  const otherKeys = new OtherReplicaKeys();
  return {
    auth,
    keys,
    otherKeys,
    resource,
    verifier: buildVerifier({
      auth,
      baseDir: loaded.baseDir,
      keys,
      defaultResource: defaultResource(loaded),
      otherKeys,
    }),
  };
}

/** `mcp-warden keys init|rotate|list` */
export async function runKeys(ctx: CommandContext, positionals: string[]): Promise<number> {
  const [sub, ...rest] = positionals;
  if (rest.length > 0 || !['init', 'rotate', 'list'].includes(sub ?? ''))
    throw new UsageError('usage: mcp-warden keys init|rotate|list');
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const keys = new KeyStore(loaded.dataDir);
  const now = Date.now();
  if (sub === 'init') {
    const key = await keys.init(now);
    process.stdout.write(`created signing key ${key.kid} in ${keys.file} (mode 0600)\n`);
    return EXIT.ok;
  }
  if (sub === 'rotate') {
    const { added, retired } = await keys.rotate(now);
    const auth = loaded.config.auth;
    const grace = auth?.mode === 'jwt' ? auth.maxTokenLifetimeSeconds : 3600;
    process.stdout.write(`new signing key ${added.kid}; retired ${retired.join(', ') || 'none'}\n`);
    process.stdout.write(
      `retired public keys stay published for ${grace} s so tokens signed with them keep verifying\n`,
    );
    return EXIT.ok;
  }
  for (const key of keys.keys()) {
    const state = key.retiredAt === undefined ? 'active' : `retired ${new Date(key.retiredAt).toISOString()}`;
    process.stdout.write(`${key.kid}  created ${new Date(key.createdAt).toISOString()}  ${state}\n`);
  }
  return EXIT.ok;
}

export interface TokenFlags {
  sub?: string;
  'task-purpose'?: string;
  grant?: string[];
  scope?: string[];
  tenant?: string;
  client?: string;
  ttl?: string;
  parent?: string;
  out?: string;
  'claude-desktop'?: boolean;
  reason?: string;
}

/** `mcp-warden token issue --sub S [...]`: prints a JWT of the built-in issuer on stdout. */
export async function runTokenIssue(ctx: CommandContext, positionals: string[], flags: TokenFlags): Promise<number> {
  if (positionals[0] === 'revoke') return runTokenRevoke(ctx, positionals.slice(1), flags.reason);
  if (positionals.length !== 1 || positionals[0] !== 'issue')
    throw new UsageError('usage: mcp-warden token issue --sub SUBJECT [options] | token revoke TOKEN_ID');
  if (!flags.sub) throw new UsageError('--sub is required (for example --sub agent:triage-bot)');
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const setup = jwtSetup(loaded);
  if (!setup?.auth.builtin) {
    throw new WardenError(
      'ERR_USAGE',
      `${loaded.file}: auth.mode must be "jwt" with a "builtin" issuer to issue tokens`,
    );
  }
  const ttl = flags.ttl === undefined ? setup.auth.builtin.defaultTtlSeconds : parseDuration(flags.ttl);
  await ensureFirstKey(setup.keys);
  const { token, claims } = await issueToken(
    setup.keys,
    {
      issuer: setup.auth.builtin.issuer,
      audience: setup.resource,
      maxLifetimeSeconds: setup.auth.maxTokenLifetimeSeconds,
    },
    {
      subject: flags.sub,
      ttlSeconds: ttl,
      ...(flags['task-purpose'] !== undefined && { taskPurpose: flags['task-purpose'] }),
      ...(flags.grant && { grants: flags.grant }),
      ...(flags.scope && { scopes: flags.scope }),
      ...(flags.tenant !== undefined && { tenant: flags.tenant }),
      ...(flags.client !== undefined && { clientId: flags.client }),
      ...(flags.parent !== undefined && { parent: flags.parent }),
    },
    setup.verifier,
    Date.now(),
  );
  const expires = new Date((claims.exp ?? 0) * 1000).toISOString();
  if (flags.out === undefined) {
    process.stdout.write(`${token}\n`);
    process.stderr.write(`token ${claims.jti} for ${claims.sub}, expires ${expires}\n`);
  } else {
    const file = resolve(flags.out);
    writePrivateFile(file, `${token}\n`);
    process.stderr.write(`token ${claims.jti} for ${claims.sub}, expires ${expires}, written to ${file} (mode 0600)\n`);
  }
  if (flags['claude-desktop'])
    process.stderr.write(
      `\n${claudeDesktopSnippet(loaded, flags.out === undefined ? undefined : resolve(flags.out))}\n`,
    );
  return EXIT.ok;
}

/**
 * A fresh clone has neither the data folder nor a signing key: create both, as the gateway's first
 * start would, and say so. A key another process creates meanwhile is used as it is.
 */
async function ensureFirstKey(keys: KeyStore): Promise<void> {
  if (keys.exists()) return;
  const newFolder = !existsSync(keys.dataDir);
  mkdirSync(keys.dataDir, { recursive: true, mode: 0o700 });
  try {
    const key = await keys.init(Date.now());
    const folder = newFolder ? `created the data folder ${keys.dataDir}; ` : '';
    process.stderr.write(`${folder}created the first signing key ${key.kid} in ${keys.file} (mode 0600)\n`);
  } catch (error) {
    if (!isWardenError(error) || error.code !== 'ERR_KEYS_EXIST') throw error;
  }
}

/**
 * Writes a secret to FILE with mode 0600, whole or not at all: a temp file beside it, fsync, rename.
 * A failure leaves the previous file (if any) untouched and no empty or partial one behind.
 */
function writePrivateFile(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** The claude_desktop_config.json entry: a token file keeps short-lived tokens out of the host's config. */
export function claudeDesktopSnippet(loaded: LoadedConfig, written?: string): string {
  const bin = new URL('../../../bin/mcp-warden.js', import.meta.url).pathname;
  const tokenFile = written ?? `${loaded.dataDir}/agent.token`;
  const entry = {
    mcpServers: {
      warden: {
        command: process.execPath,
        args: [bin, 'stdio', '--config', loaded.file, '--token-file', tokenFile],
      },
    },
  };
  const where =
    written === undefined
      ? `and write the token above to ${tokenFile} (or issue it with --out ${tokenFile})`
      : `the token is in ${tokenFile}`;
  return `Add to claude_desktop_config.json; ${where}\n(refresh that file before the token expires with the same command; the gateway re-reads it):\n${JSON.stringify(entry, null, 2)}`;
}
