import { stripTerminalEscapes } from './sanitize.js';
import type { Scrubber } from './stages.js';

const MAX_DEPTH = 64;
// eslint-disable-next-line no-control-regex -- ESC, 8-bit CSI and OSC: the start of every escape sequence
const ESCAPE_START = /[\u001b\u009b\u009d]/;

/** Removes terminal escape sequences from every string of a downstream result; content otherwise kept. */
export class EscapeScrubber implements Scrubber {
  scrubResult<T>(value: T): T {
    return walk(value, 0) as T;
  }
}

function walk(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return ESCAPE_START.test(value) ? stripTerminalEscapes(value) : value;
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = walk(item, depth + 1);
  return out;
}
