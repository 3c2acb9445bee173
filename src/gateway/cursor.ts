/** The gateway's own list cursors: opaque to agents, checked on the way back. */
export function encodeCursor(kind: string, offset: number): string {
  return Buffer.from(JSON.stringify({ k: kind, o: offset })).toString('base64url');
}

/** Returns the offset, or undefined when the cursor is not one this gateway issued for this list. */
export function decodeCursor(kind: string, cursor: string | undefined): number | undefined {
  if (cursor === undefined) return 0;
  if (cursor.length > 200) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown; o?: unknown };
    if (parsed.k !== kind || typeof parsed.o !== 'number' || !Number.isSafeInteger(parsed.o) || parsed.o < 0)
      return undefined;
    return parsed.o;
  } catch {
    return undefined;
  }
}

export function page<T>(
  items: readonly T[],
  offset: number,
  size: number,
  kind: string,
): { items: T[]; nextCursor?: string } {
  const slice = items.slice(offset, offset + size);
  const next = offset + size;
  return next < items.length ? { items: slice, nextCursor: encodeCursor(kind, next) } : { items: slice };
}
