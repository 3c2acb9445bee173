import { canonicalJson, sha256Hex } from '../model/canonical.js';
import type { DefinitionKind } from './types.js';

/**
 * The parts of a downstream definition that a pin covers, exactly as the downstream sent them (before
 * the gateway renames, cleans or hides anything): a change to any of them is a change of definition.
 */
export function pinnedParts(kind: DefinitionKind, definition: Record<string, unknown>): Record<string, unknown> {
  const fields = kind === 'tool' ? TOOL_FIELDS : PROMPT_FIELDS;
  const out: Record<string, unknown> = {};
  for (const field of fields) if (definition[field] !== undefined) out[field] = definition[field];
  return out;
}

const TOOL_FIELDS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;
const PROMPT_FIELDS = ['name', 'title', 'description', 'arguments'] as const;

/** `sha256:<hex>` of the canonical JSON of the pinned parts. */
export function definitionHash(kind: DefinitionKind, definition: Record<string, unknown>): string {
  return `sha256:${sha256Hex(canonicalJson(pinnedParts(kind, definition)))}`;
}
