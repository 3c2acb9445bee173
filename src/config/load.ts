import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { WardenError, isWardenError } from '../errors.js';
import { interpolateEnv } from './interpolate.js';
import { describeJsonSyntaxError } from './syntax-error.js';
import { ConfigSchema, type Config, type ServerConfig } from './schema.js';

export interface LoadedConfig {
  /** Absolute path of the file that was read. */
  file: string;
  /** Folder the file lives in: every relative path in it resolves against this. */
  baseDir: string;
  config: Config;
  /** Absolute data folder after `--data-dir` / `MCP_WARDEN_DATA_DIR` overrides. */
  dataDir: string;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** `--data-dir` from the command line; wins over the environment and the file. */
  dataDirOverride?: string;
}

/** Reads, interpolates and validates a config file. Every error names the file and the JSON path. */
export function loadConfig(file: string, options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const absolute = resolve(file);
  const label = basename(absolute);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new WardenError(
      'ERR_CONFIG_NOT_FOUND',
      code === 'ENOENT'
        ? `${absolute}: no such file (pass --config FILE)`
        : `${absolute}: cannot be read (${code ?? 'unknown error'})`,
    );
  }
  const config = parseConfigText(text, label, env);
  const baseDir = dirname(absolute);
  // --data-dir and MCP_WARDEN_DATA_DIR come from the shell, so a relative one means the working directory;
  // dataDir in the file is relative to the file. An empty override counts as unset.
  const override = [options.dataDirOverride, env.MCP_WARDEN_DATA_DIR].find(
    (value) => value !== undefined && value !== '',
  );
  return {
    file: absolute,
    baseDir,
    config,
    dataDir: override !== undefined ? resolve(override) : resolvePath(baseDir, config.dataDir),
  };
}

/** Validates config text; exposed separately so README snippets and examples can be checked by tests. */
export function parseConfigText(text: string, label: string, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new WardenError('ERR_CONFIG_INVALID', `${label}: not valid JSON at ${describeJsonSyntaxError(text, error)}`);
  }
  let interpolated: unknown;
  try {
    interpolated = interpolateEnv(raw, env);
  } catch (error) {
    if (isWardenError(error)) throw new WardenError(error.code, `${label}: ${error.message}`);
    throw error;
  }
  const parsed = ConfigSchema.safeParse(interpolated);
  if (!parsed.success) {
    throw new WardenError('ERR_CONFIG_INVALID', formatIssues(label, parsed.error.issues, interpolated));
  }
  checkPrefixes(label, parsed.data.servers);
  return parsed.data;
}

/**
 * One line per issue (at most 20), named by file and JSON path. With the `input` that was validated, a
 * union whose deciding field (`transport`, `mode`, …) is missing also names the unknown field beside it
 * that looks like a misspelling of it: zod stops at the missing field and never gets to the unknown one.
 */
export function formatIssues(label: string, issues: readonly z.core.$ZodIssue[], input?: unknown): string {
  return issues
    .slice(0, 20)
    .flatMap((issue) => [
      ...misspelt(issue, input).map((line) => `${label}: ${formatPath(issue.path.slice(0, -1))}: ${line}`),
      `${label}: ${formatPath(issue.path)}: ${describeIssue(issue, input)}`,
    ])
    .join('\n');
}

/** The discriminator of a failed discriminated union, and the object it was looked for in. */
function unionDiscriminator(
  issue: z.core.$ZodIssue,
  input: unknown,
): { name: string; object: Record<string, unknown> } | undefined {
  if (issue.code !== 'invalid_union' || !('discriminator' in issue) || typeof issue.discriminator !== 'string')
    return undefined;
  // The issue's path ends with the discriminator; the object holding it is one step up.
  let value: unknown = input;
  for (const part of issue.path.slice(0, -1)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part as PropertyKey];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return { name: issue.discriminator, object: value as Record<string, unknown> };
}

function misspelt(issue: z.core.$ZodIssue, input: unknown): string[] {
  const found = unionDiscriminator(issue, input);
  if (!found || found.name in found.object) return [];
  return Object.keys(found.object)
    .filter((key) => key !== found.name && editDistance(key.toLowerCase(), found.name.toLowerCase()) <= 2)
    .map((key) => `unknown field "${key}" (did you mean "${found.name}"?)`);
}

/** Levenshtein distance; the strings compared are field names, a few dozen characters at most. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((part) => (typeof part === 'number' ? `[${part}]` : String(part)))
    .join('.')
    .replace(/\.\[/g, '[');
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator) {
    const options = 'options' in issue && Array.isArray(issue.options) ? issue.options : [];
    const absent = (() => {
      const found = unionDiscriminator(issue, input);
      return found !== undefined && !(found.name in found.object);
    })();
    if (options.length > 0)
      return `${absent ? 'missing; ' : ''}must be one of ${options.map((option) => JSON.stringify(option)).join(', ')}`;
    return `${String(issue.discriminator)} must be one of the supported values`;
  }
  // A bad record key (server id, env or header name): say what a key must look like, not just "invalid".
  if (issue.code === 'invalid_key') return issue.issues[0]?.message ?? issue.message;
  return issue.message;
}

/** Two servers may not claim the same prefix; unprefixed servers are checked for collisions at start-up. */
function checkPrefixes(label: string, servers: Record<string, ServerConfig>): void {
  const seen = new Map<string, string>();
  for (const [id, server] of Object.entries(servers)) {
    if (!server.enabled || server.prefix === false) continue;
    const prefix = server.prefix ?? id;
    if (prefix === 'warden')
      throw new WardenError(
        'ERR_CONFIG_INVALID',
        `${label}: servers.${id}${server.prefix === undefined ? '' : '.prefix'}: "warden" is reserved for the gateway's own tools`,
      );
    const other = seen.get(prefix);
    if (other !== undefined) {
      throw new WardenError(
        'ERR_CONFIG_INVALID',
        `${label}: servers.${id}.prefix: "${prefix}" is already the prefix of server "${other}"`,
      );
    }
    seen.set(prefix, id);
  }
}

export function resolvePath(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}
