/**
 * A field-level difference between two definitions, for a person to read (`mcp-warden tools diff`, the
 * reviewer console). Paths use dots for object keys (`inputSchema.properties.path.type`) and brackets
 * for array indexes (`required[1]`). Values are JSON, with every character a terminal or a reader would
 * not see (controls, escapes, bidi, zero-width, tag characters) shown as a `\u{…}` escape: a reviewer
 * must see hidden text, not have it hidden again.
 */
export interface DiffEntry {
  path: string;
  /** Absent: the field was added. */
  before?: string;
  /** Absent: the field was removed. */
  after?: string;
}

const MAX_DEPTH = 64;

export function definitionDiff(before: unknown, after: unknown): DiffEntry[] {
  const left = flatten(before);
  const right = flatten(after);
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort(comparePaths);
  const out: DiffEntry[] = [];
  for (const path of paths) {
    const a = left.get(path);
    const b = right.get(path);
    if (a === b) continue;
    out.push({ path, ...(a !== undefined && { before: a }), ...(b !== undefined && { after: b }) });
  }
  return out;
}

/** Leaves of a JSON value as path → visible JSON text. Empty objects and arrays are leaves too. */
function flatten(value: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (value === undefined) return out;
  const walk = (node: unknown, path: string, depth: number) => {
    if (node !== null && typeof node === 'object' && depth < MAX_DEPTH) {
      const entries = Array.isArray(node)
        ? node.map((item, index) => [`[${index}]`, item] as const)
        : Object.entries(node).map(([key, item]) => [keyPath(key), item] as const);
      if (entries.length > 0) {
        for (const [step, item] of entries)
          walk(item, path === '' || step.startsWith('[') ? `${path}${step}` : `${path}.${step}`, depth + 1);
        return;
      }
    }
    out.set(path === '' ? '(definition)' : path, visibleJson(node));
  };
  walk(value, '', 0);
  return out;
}

function keyPath(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key) ? key : `[${visibleJson(key)}]`;
}

// Everything sanitising would remove or a terminal would act on, plus line and paragraph separators.
const HIDDEN =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\u{e0000}-\u{e007f}]|\u034f|[\u{e0100}-\u{e01ef}]/gu; // eslint-disable-line no-control-regex

/** JSON text of a value with every hidden character written as `\u{hex}`. */
export function visibleJson(value: unknown): string {
  const json = JSON.stringify(value === undefined ? null : value) ?? 'null';
  // JSON.stringify already escapes C0 controls as \uXXXX; the rest are escaped here.
  return json.replace(HIDDEN, (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`);
}

function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
