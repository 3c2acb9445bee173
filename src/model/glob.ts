/**
 * The one glob of the project (policies, task grants, delegation): `*` matches any run of characters
 * (including none, including `__`); everything else is literal.
 */

/** `text` as a literal inside a regular expression. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `*` matches any run of characters (including none, including `__`); everything else is literal. */
export function compileGlob(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`, 's');
}

export type Matcher = (value: string) => boolean;

/**
 * The same match as `compileGlob`, as the cheapest function for the pattern's shape: `prefix*`,
 * `*suffix` and `*infix*` become string comparisons (the common shapes in policies), anything else a
 * regular expression.
 */
export function globMatcher(pattern: string): Matcher {
  const stars = pattern.split('*').length - 1;
  if (stars === 0) return (value) => value === pattern;
  if (pattern === '*') return () => true;
  if (stars === 1 && pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return (value) => value.startsWith(prefix);
  }
  if (stars === 1 && pattern.startsWith('*')) {
    const suffix = pattern.slice(1);
    return (value) => value.endsWith(suffix);
  }
  if (stars === 2 && pattern.startsWith('*') && pattern.endsWith('*')) {
    const infix = pattern.slice(1, -1);
    return (value) => value.includes(infix);
  }
  const regex = compileGlob(pattern);
  return (value) => regex.test(value);
}

export function isLiteral(pattern: string): boolean {
  return !pattern.includes('*');
}

/** Matches a list of globs; literal names go through a set, so long lists of exact names stay cheap. */
export class GlobSet {
  private readonly exact = new Set<string>();
  private readonly patterns: Matcher[] = [];

  constructor(readonly globs: readonly string[]) {
    for (const glob of globs) {
      if (isLiteral(glob)) this.exact.add(glob);
      else this.patterns.push(globMatcher(glob));
    }
  }

  test(value: string): boolean {
    if (this.exact.has(value)) return true;
    for (const matches of this.patterns) if (matches(value)) return true;
    return false;
  }

  /** The first glob that matches, for explanations. */
  which(value: string): string | undefined {
    return this.globs.find((glob) => (isLiteral(glob) ? glob === value : compileGlob(glob).test(value)));
  }
}

/** Does `value` match glob `pattern`? */
export function globMatch(pattern: string, value: string): boolean {
  return globMatcher(pattern)(value);
}

/** Does glob `outer` allow everything glob `inner` allows? */
export function globCovers(outer: string, inner: string): boolean {
  if (outer === inner) return true;
  if (isLiteral(inner)) return globMatch(outer, inner);
  // inner is a pattern: covered when outer is a prefix glob ("a__*") whose prefix starts inner's literal prefix
  const star = outer.indexOf('*');
  if (star !== outer.length - 1) return false;
  const innerLiteral = inner.slice(0, inner.indexOf('*'));
  return innerLiteral.startsWith(outer.slice(0, -1));
}
