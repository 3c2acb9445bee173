import { WardenError } from '../errors.js';

const PLACEHOLDER = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed JSON tree; `$$` is a literal `$`.
 * Keys are never interpolated. A missing variable without a default names the JSON path.
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: string[] = []): unknown {
  if (typeof value === 'string') return interpolateString(value, env, path);
  if (Array.isArray(value)) return value.map((item, index) => interpolateEnv(item, env, [...path, `[${index}]`]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    // defineProperty, not assignment: a "__proto__" key stays a key the schema can refuse.
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, key, {
        value: interpolateEnv(item, env, [...path, key]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

function interpolateString(text: string, env: NodeJS.ProcessEnv, path: string[]): string {
  return text.replace(PLACEHOLDER, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$';
    const found = name === undefined ? undefined : env[name];
    if (found !== undefined && found !== '') return found;
    if (fallback !== undefined) return fallback;
    throw new WardenError(
      'ERR_CONFIG_INTERPOLATION',
      `${path.join('.').replace(/\.\[/g, '[') || '(root)'}: environment variable ${name ?? '?'} is not set (write \${${name ?? 'VAR'}:-default} to give a default)`,
    );
  });
}
