import { cleanText } from '../model/sanitize.js';
import type { DefinitionKind } from './types.js';

/**
 * Signs that a downstream definition carries instructions aimed at the model rather than a description
 * for it. A flag is a hint for the person reviewing the definition (`tools list`, `tools diff`), and
 * the trigger for quarantine on servers with `quarantineFlagged: true`; it is not a verdict, and a
 * definition without flags is not thereby safe.
 */
export interface FlagRule {
  /** Stable name, stored on the pin row and shown to reviewers. */
  name: string;
  /** What the rule looks for, in one line (docs/integrity.md lists them). */
  summary: string;
  test: (text: string) => boolean;
}

const matches = (pattern: RegExp) => (text: string) => pattern.test(text);

export const FLAG_RULES: readonly FlagRule[] = [
  {
    name: 'important-block',
    summary: 'a tag-like block addressed to the model: <IMPORTANT>, <system>, <instructions>, <secret>',
    test: matches(/<\s*\/?\s*(important|system|instructions?|secret|hidden|admin)\b[^>]*>/i),
  },
  {
    name: 'ignore-instructions',
    summary: 'asks the model to ignore, disregard or override earlier or other instructions',
    test: matches(
      /\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|other|any|system|user'?s?)\b[^.\n]{0,40}\b(instructions?|prompts?|rules|directions|guidelines)\b/i,
    ),
  },
  {
    name: 'read-files',
    summary:
      'names private keys or system files (~/.ssh, id_rsa, /etc/passwd, ~/.aws), or asks to read .env, credentials or config files',
    test: matches(
      /~\/\.ssh|\bid_(rsa|ed25519|ecdsa)\b|\/etc\/(passwd|shadow)\b|~\/\.aws\b|\.netrc\b|\b(read|open|cat|load|access|include|fetch)\b[^\n]{0,80}(~\/|\.env\b|credentials?\b|mcp\.json|\.npmrc|private key)/i,
    ),
  },
  {
    name: 'exfiltrate',
    summary: 'asks to send data, files, keys or the conversation somewhere else',
    test: matches(
      /\b(send|post|upload|forward|transmit|exfiltrate|leak|copy|pass|append|include)\b[^\n]{0,60}\b(contents?|data|files?|secrets?|keys?|tokens?|passwords?|credentials?|conversation|chat history|history|messages)\b[^\n]{0,60}\b(to|into|via|as)\b[^\n]{0,30}(https?:\/\/|\burl\b|\bendpoint\b|\bserver\b|\bemail\b|@|\bparameter\b|\bargument\b|\bfield\b)/i,
    ),
  },
  {
    name: 'conceal',
    summary: 'asks the model to keep something from the user',
    test: matches(
      /\b(do not|don't|never|without)\s+(tell|telling|mention|mentioning|inform|informing|reveal|revealing|show|showing|notify|notifying|alert|alerting)\b[^.\n]{0,30}\b(the )?(user|human|person)\b/i,
    ),
  },
  {
    name: 'tool-shadowing',
    summary: 'tries to change how other tools are used (instead of / before using other tools)',
    test: matches(
      /\b(instead of|rather than|before (using|calling))\b[^.\n]{0,40}\b(any |the |other |every )?(other )?(tools?|functions?)\b|\bwhen(ever)? (using|calling) (any|the|other)\b[^.\n]{0,40}\b(tools?|functions?)\b[^.\n]{0,40}\b(must|always|first)\b/i,
    ),
  },
  {
    name: 'hidden-unicode',
    summary: 'text the gateway would clean: terminal escapes, control, bidi, zero-width or tag characters',
    test: (text) => cleanText(text) !== text.replace(/\r\n/g, '\n'),
  },
];

const MAX_TEXTS = 2_000;
const MAX_DEPTH = 32;

/**
 * Flags raised by a definition as the downstream sent it: its title and description, and for tools
 * every `title`/`description` in its input and output schemas, for prompts every argument's.
 * Returns rule names in the order of FLAG_RULES.
 */
export function definitionFlags(kind: DefinitionKind, definition: Record<string, unknown>): string[] {
  const texts = textsOf(kind, definition);
  return FLAG_RULES.filter((rule) => texts.some((text) => rule.test(text))).map((rule) => rule.name);
}

function textsOf(kind: DefinitionKind, definition: Record<string, unknown>): string[] {
  const texts: string[] = [];
  const push = (value: unknown) => {
    if (typeof value === 'string' && value.length > 0 && texts.length < MAX_TEXTS) texts.push(value);
  };
  push(definition.title);
  push(definition.description);
  if (kind === 'tool') {
    push((definition.annotations as { title?: unknown } | undefined)?.title);
    collectSchemaTexts(definition.inputSchema, push, 0);
    collectSchemaTexts(definition.outputSchema, push, 0);
  } else if (Array.isArray(definition.arguments)) {
    for (const arg of definition.arguments as unknown[]) {
      if (arg && typeof arg === 'object') {
        push((arg as { title?: unknown }).title);
        push((arg as { description?: unknown }).description);
      }
    }
  }
  return texts;
}

/** Every `title`, `description` and string `default`/`examples`/`enum` value anywhere in a JSON Schema. */
function collectSchemaTexts(schema: unknown, push: (value: unknown) => void, depth: number): void {
  if (depth > MAX_DEPTH || schema === null || typeof schema !== 'object') return;
  if (Array.isArray(schema)) {
    for (const item of schema) collectSchemaTexts(item, push, depth + 1);
    return;
  }
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'title' || key === 'description' || key === 'default') push(value);
    else if ((key === 'examples' || key === 'enum') && Array.isArray(value)) value.forEach(push);
    if (value !== null && typeof value === 'object') collectSchemaTexts(value, push, depth + 1);
  }
}
