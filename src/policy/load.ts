import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import type * as Yaml from 'yaml';
import type { z } from 'zod';
import { formatIssues } from '../config/load.js';
import { describeJsonSyntaxError } from '../config/syntax-error.js';
import { WardenError } from '../errors.js';
import { compilePolicy, type CompiledPolicy, type PolicySource } from './compile.js';
import { PolicyFileSchema, type PolicyFile } from './schema.js';

// The YAML parser is loaded when the first YAML text is parsed (a gateway without a policy, or with
// JSON policies only, never loads it). Loading is synchronous, as policy loading is.
const require = createRequire(import.meta.url);
let yaml: typeof Yaml | undefined;
const yamlParser = (): typeof Yaml => (yaml ??= require('yaml') as typeof Yaml);

export interface PolicyFileRef {
  /** Absolute path. */
  path: string;
  /** How errors, rule ids and the version name it (the path relative to the config file, or as given). */
  label: string;
}

/** Reads, validates and compiles policy files as one policy. Every error names the file and the path. */
export function loadPolicy(files: readonly PolicyFileRef[]): CompiledPolicy {
  if (files.length === 0) throw new WardenError('ERR_POLICY_INVALID', 'no policy files given');
  return compilePolicy(files.map((file) => readPolicyFile(file)));
}

export function readPolicyFile(file: PolicyFileRef): PolicySource {
  return { label: file.label, data: parsePolicyText(readText(file), file.label) };
}

/** Parses YAML (or JSON, by extension `.json`) and validates it; exposed so README and docs snippets are checked by tests. */
export function parsePolicyText(text: string, label: string): PolicyFile {
  return validate(PolicyFileSchema, parseStructured(text, label), label);
}

export function readText(file: PolicyFileRef): string {
  try {
    return readFileSync(file.path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new WardenError(
      'ERR_POLICY_INVALID',
      `${file.label}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? 'unknown error'})`}`,
    );
  }
}

/** YAML 1.2 (JSON is YAML too; a `.json` file is parsed strictly as JSON). Duplicate keys and `__proto__` keys are errors. */
export function parseStructured(text: string, label: string): unknown {
  let raw: unknown;
  if (extname(label).toLowerCase() === '.json') {
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new WardenError(
        'ERR_POLICY_INVALID',
        `${label}: not valid JSON at ${describeJsonSyntaxError(text, error)}`,
      );
    }
  } else {
    const doc = yamlParser().parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    const first = doc.errors[0];
    // The message ends with the offending lines and a caret ("… at line 5, column 3:\n\n  a: b: c\n  ^"): kept.
    if (first)
      throw new WardenError(
        'ERR_POLICY_INVALID',
        `${label}: not valid YAML: ${first.message.replace(/\n{2,}/, '\n').trimEnd()}`,
      );
    raw = doc.toJS({ maxAliasCount: 100 });
  }
  const polluted = findKey(raw, '__proto__', []);
  if (polluted)
    throw new WardenError('ERR_POLICY_INVALID', `${label}: ${polluted}: "__proto__" is not allowed as a key`);
  return raw;
}

export function validate<S extends z.ZodType>(schema: S, raw: unknown, label: string): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new WardenError('ERR_POLICY_INVALID', formatIssues(label, parsed.error.issues));
  return parsed.data;
}

function findKey(value: unknown, key: string, path: (string | number)[]): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const found = findKey(value[i], key, [...path, i]);
      if (found) return found;
    }
    return undefined;
  }
  for (const name of Object.keys(value)) {
    if (name === key) return path.length === 0 ? '(root)' : formatPath(path);
    const found = findKey((value as Record<string, unknown>)[name], key, [...path, name]);
    if (found) return found;
  }
  return undefined;
}

function formatPath(path: readonly (string | number)[]): string {
  return path
    .map((part) => (typeof part === 'number' ? `[${part}]` : part))
    .join('.')
    .replace(/\.\[/g, '[');
}
