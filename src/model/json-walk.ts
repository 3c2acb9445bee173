import { WardenError } from '../errors.js';

/**
 * The one walk over JSON-like values (results, definitions, notifications, log data, audit details).
 * Deeper than this a value is refused, never passed on unscrubbed: the caller turns the error into an
 * internal error or a placeholder. Real MCP payloads are nowhere near it; ingress caps depth earlier.
 */
export const MAX_JSON_DEPTH = 256;

export class JsonDepthError extends WardenError {
  constructor() {
    super(
      'ERR_JSON_TOO_DEEP',
      `value nested deeper than ${MAX_JSON_DEPTH} levels; refused rather than passed on unscrubbed`,
    );
  }
}

export interface JsonMapper {
  /** Applied to every string value. */
  string: (text: string) => string;
  /** Applied to every object key (defaults to `string`). */
  key?: (key: string) => string;
  /** A replacement for an object member chosen by its original key (e.g. a credential-named argument), or undefined to walk it. */
  member?: (key: string, value: unknown) => unknown;
}

/**
 * A copy of a JSON-like value with every string (and key) mapped, in one walk. Keys are set as own
 * properties: a `__proto__` key stays a key and never becomes the copy's prototype.
 */
export function mapJson(value: unknown, mapper: JsonMapper): unknown {
  return walk(value, 0, mapper, mapper.key ?? mapper.string);
}

function walk(value: unknown, depth: number, mapper: JsonMapper, key: (k: string) => string): unknown {
  if (typeof value === 'string') return mapper.string(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_JSON_DEPTH) throw new JsonDepthError();
  if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1, mapper, key));
  const out: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value)) {
    const replaced = mapper.member?.(name, item);
    const mapped = replaced === undefined ? walk(item, depth + 1, mapper, key) : replaced;
    const cleanName = key(name);
    if (cleanName === '__proto__')
      Object.defineProperty(out, cleanName, { value: mapped, enumerable: true, writable: true, configurable: true });
    else out[cleanName] = mapped;
  }
  return out;
}
