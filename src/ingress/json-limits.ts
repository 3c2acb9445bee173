/** Limits on the shape of one JSON text, checked on the raw characters before anything parses or walks it. */
export interface JsonLimits {
  /** Deepest nesting of objects and arrays. */
  maxDepth: number;
  /** Most members one object may have. */
  maxKeys: number;
  /** Most values in the whole text (every container, member and element counts once). */
  maxNodes: number;
}

export type JsonLimitBreach =
  { kind: 'depth'; limit: number } | { kind: 'keys'; limit: number } | { kind: 'nodes'; limit: number };

/**
 * The first limit a JSON text breaks, or undefined. One linear scan that stops at the first breach, so a
 * hostile body costs at most one pass over its characters; the text need not be valid JSON.
 */
export function checkJsonLimits(text: string, limits: JsonLimits): JsonLimitBreach | undefined {
  const { maxDepth, maxKeys, maxNodes } = limits;
  const counts = new Int32Array(maxDepth + 2);
  const isObject = new Uint8Array(maxDepth + 2);
  let depth = 0;
  let nodes = 1;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (depth > 0 && counts[depth] === 0 && c !== 0x7d && c !== 0x5d) {
      // The first member or element of the innermost container starts here.
      counts[depth] = 1;
      nodes += 1;
      if (nodes > maxNodes) return { kind: 'nodes', limit: maxNodes };
    }
    if (c === 0x22) inString = true;
    else if (c === 0x2c) {
      if (depth === 0) continue;
      counts[depth] = counts[depth]! + 1;
      nodes += 1;
      if (nodes > maxNodes) return { kind: 'nodes', limit: maxNodes };
      if (isObject[depth] === 1 && counts[depth]! > maxKeys) return { kind: 'keys', limit: maxKeys };
    } else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > maxDepth) return { kind: 'depth', limit: maxDepth };
      counts[depth] = 0;
      isObject[depth] = c === 0x7b ? 1 : 0;
    } else if ((c === 0x7d || c === 0x5d) && depth > 0) depth -= 1;
  }
  return undefined;
}

/** Nesting depth of a JSON text past `limit`, on the raw characters (see checkJsonLimits). */
export function exceedsJsonDepth(text: string, limit: number): boolean {
  return (
    checkJsonLimits(text, { maxDepth: limit, maxKeys: Number.MAX_SAFE_INTEGER, maxNodes: Number.MAX_SAFE_INTEGER })
      ?.kind === 'depth'
  );
}

/** The refusal of a breach on the wire: depth is an invalid request (as before), size limits are invalid params. */
export function jsonLimitError(breach: JsonLimitBreach): { code: number; message: string } {
  switch (breach.kind) {
    case 'depth':
      return { code: -32600, message: `JSON nested deeper than ${breach.limit} levels` };
    case 'keys':
      return { code: -32602, message: `Invalid params: a JSON object with more than ${breach.limit} keys` };
    case 'nodes':
      return { code: -32602, message: `Invalid params: JSON with more than ${breach.limit} values` };
  }
}

const MAX_ID_CHARS = 256;

/**
 * The top-level `"id"` of a JSON-RPC message that is not parsed (it broke a limit), so the refusal can
 * answer the request it refuses; null when there is none or it cannot be read cheaply.
 */
export function topLevelRequestId(text: string): string | number | null {
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = stringEnd(text, i);
      if (end < 0) return null;
      if (depth === 1 && end === i + 3 && text.startsWith('"id"', i)) {
        let j = end + 1;
        while (j < text.length && isSpace(text.charCodeAt(j))) j += 1;
        if (text.charCodeAt(j) === 0x3a) return idValue(text, j + 1);
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) depth += 1;
    else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return null;
}

function idValue(text: string, from: number): string | number | null {
  let i = from;
  while (i < text.length && isSpace(text.charCodeAt(i))) i += 1;
  let end: number;
  if (text.charCodeAt(i) === 0x22) end = stringEnd(text, i) + 1;
  else {
    end = i;
    while (end < text.length && /[-+.0-9eE]/.test(text[end]!)) end += 1;
  }
  if (end <= i || end - i > MAX_ID_CHARS) return null;
  try {
    const value: unknown = JSON.parse(text.slice(i, end));
    return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) ? value : null;
  } catch {
    return null;
  }
}

/** Index of the closing quote of the string opening at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i += 1;
    else if (c === 0x22) return i;
  }
  return -1;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Protocol versions that still allow JSON-RPC batches (batching was removed in 2025-06-18). */
const BATCHING_VERSIONS = new Set(['2024-11-05', '2025-03-26']);

export function allowsBatch(protocolVersion: string | undefined): boolean {
  return protocolVersion !== undefined && BATCHING_VERSIONS.has(protocolVersion);
}
