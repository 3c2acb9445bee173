/**
 * Syntax errors a person can find: the line, the column and the offending line with a caret under the
 * spot, instead of JSON.parse's character offset.
 */

/** "line L, column C: reason" and the snippet, for a JSON.parse error on `text`. */
export function describeJsonSyntaxError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // V8 names the offset in its message ("… in JSON at position 151"); the end of input has none.
  const offset = /\bat position (\d+)/.exec(message)?.[1];
  // Past the last character (a truncated file): point just after the last one that is not white space.
  const end = text.trimEnd().length;
  const position = offset === undefined ? end : Math.min(Number(offset), end);
  const reason = message.replace(/\s*(?:in JSON )?at position \d+.*$/s, '').replace(/\s*\(line \d+ column \d+\)$/, '');
  const { line, column } = lineAndColumn(text, position);
  return `line ${line}, column ${column}: ${reason}\n${snippet(text, line, column)}`;
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const column = position - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}

/** The line itself (tabs shown as spaces so the caret lines up), numbered, with a caret below. */
function snippet(text: string, line: number, column: number): string {
  const source = (text.split('\n')[line - 1] ?? '').replace(/\r$/, '');
  const number = String(line);
  const shown = source.length > 160 ? source.slice(Math.max(0, column - 80), Math.max(0, column - 80) + 160) : source;
  const caretAt = source.length > 160 ? Math.min(column - 1, 79) : column - 1;
  return `  ${number} | ${shown.replace(/\t/g, ' ')}\n  ${' '.repeat(number.length)} | ${' '.repeat(Math.max(0, caretAt))}^`;
}
