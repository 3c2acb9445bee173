import { stripTerminalEscapes } from './sanitize.js';
import type { Scrubber } from './stages.js';

/**
 * Deeper than this a value is refused rather than passed on unscrubbed (fail closed): the call fails
 * with an internal error and its outcome is recorded. Real results are nowhere near it.
 */
export const MAX_SCRUB_DEPTH = 256;
// eslint-disable-next-line no-control-regex -- ESC, 8-bit CSI and OSC: the start of every escape sequence
const ESCAPE_START = /[\u001b\u009b\u009d]/;

export class ScrubDepthError extends Error {
  constructor() {
    super(`value nested deeper than ${MAX_SCRUB_DEPTH} levels; refused rather than passed on unscrubbed`);
  }
}

/** Terminal escape sequences removed, when there are any (the common case costs one regex test). */
export function stripEscapes(text: string): string {
  return ESCAPE_START.test(text) ? stripTerminalEscapes(text) : text;
}

/**
 * A copy of a JSON-like value with `clean` applied to every string, keys included, in one walk. Keys
 * are set as own properties (a `__proto__` key stays a key and never becomes the copy's prototype).
 */
export function mapStrings(value: unknown, clean: (text: string) => string): unknown {
  return walk(value, 0, clean);
}

function walk(value: unknown, depth: number, clean: (text: string) => string): unknown {
  if (typeof value === 'string') return clean(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_SCRUB_DEPTH) throw new ScrubDepthError();
  if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1, clean));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const cleanKey = clean(key);
    const cleanItem = walk(item, depth + 1, clean);
    if (cleanKey === '__proto__') Object.defineProperty(out, cleanKey, { value: cleanItem, enumerable: true, writable: true, configurable: true });
    else out[cleanKey] = cleanItem;
  }
  return out;
}

/** Removes terminal escape sequences from every string of a downstream result; content otherwise kept. */
export class EscapeScrubber implements Scrubber {
  scrubResult<T>(value: T): T {
    return mapStrings(value, stripEscapes) as T;
  }
}
