import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { ServerConfig } from '../config/schema.js';
import { resolveCommand } from '../downstream/transport.js';

/** A command a server entry starts: the stdio server itself, or an HTTP server the gateway launches. */
interface Started {
  where: string;
  command: string;
  cwd: string | undefined;
  env: Record<string, string> | undefined;
}

function startedBy(id: string, server: ServerConfig): Started | undefined {
  if (server.transport === 'stdio')
    return { where: `servers.${id}.command`, command: server.command, cwd: server.cwd, env: server.env };
  if (server.transport === 'http' && server.launch) {
    return {
      where: `servers.${id}.launch.command`,
      command: server.launch.command,
      cwd: server.launch.cwd,
      env: server.launch.env,
    };
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every enabled server's command resolved as the gateway would spawn it: a path against the config's
 * folder, a bare name on PATH (the server's own env PATH if it sets one), `node` as this Node.js. Also
 * a working folder that does not exist. One line per problem, named by the JSON path.
 */
export function commandProblems(loaded: LoadedConfig, label: string): string[] {
  const problems: string[] = [];
  for (const [id, server] of Object.entries(loaded.config.servers)) {
    if (!server.enabled) continue;
    const started = startedBy(id, server);
    if (!started) continue;
    const resolved = resolveCommand(started.command, loaded.baseDir);
    if (isAbsolute(resolved)) {
      if (!isExecutableFile(resolved))
        problems.push(`${label}: ${started.where}: "${started.command}" (${resolved}) is not an executable file`);
    } else {
      const path = started.env?.PATH ?? process.env.PATH ?? '';
      const found = path
        .split(delimiter)
        .filter(Boolean)
        .some((dir) => isExecutableFile(join(dir, resolved)));
      if (!found)
        problems.push(
          `${label}: ${started.where}: "${started.command}" is not found on PATH (give an absolute path, or install it)`,
        );
    }
    if (started.cwd !== undefined) {
      const cwd = resolve(loaded.baseDir, started.cwd);
      let folder = false;
      try {
        folder = statSync(cwd).isDirectory();
      } catch {
        folder = false;
      }
      if (!folder) problems.push(`${label}: ${started.where.replace(/command$/, 'cwd')}: ${cwd} is not a folder`);
    }
  }
  return problems;
}

/**
 * Names that could collide without a server being asked: unprefixed servers offer their tools and
 * prompts under their own names, so two of them (or one beside the gateway's warden__ tools) can clash;
 * the gateway refuses to start on an actual collision (ERR_NAME_COLLISION). Prefix collisions are
 * already errors of the config itself.
 */
export function nameNotes(loaded: LoadedConfig): string[] {
  const unprefixed = Object.entries(loaded.config.servers)
    .filter(([, server]) => server.enabled && server.prefix === false)
    .map(([id]) => id);
  if (unprefixed.length < 2) return [];
  return [
    `servers ${unprefixed.join(', ')} are unprefixed: their tool and prompt names can collide, which is checked when the gateway starts (give them prefixes to rule it out)`,
  ];
}
