/**
 * Nesting depth of a JSON text, measured on the raw characters before anything parses or walks it.
 * Stops counting as soon as `limit` is passed, so a hostile body costs one linear scan at most.
 */
export function exceedsJsonDepth(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return false;
}

/** Protocol versions that still allow JSON-RPC batches (batching was removed in 2025-06-18). */
const BATCHING_VERSIONS = new Set(['2024-11-05', '2025-03-26']);

export function allowsBatch(protocolVersion: string | undefined): boolean {
  return protocolVersion !== undefined && BATCHING_VERSIONS.has(protocolVersion);
}
