const MAX_PAGES = 100;
const MAX_ITEMS = 10_000;

/** Follows a downstream's cursors to the end, bounded in pages and items, refusing cursor loops. */
export async function fetchAllPages<R extends { nextCursor?: string }, T>(
  fetchPage: (cursor: string | undefined) => Promise<R>,
  items: (page: R) => readonly T[],
): Promise<T[]> {
  const out: T[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const result = await fetchPage(cursor);
    out.push(...items(result));
    if (out.length >= MAX_ITEMS) return out.slice(0, MAX_ITEMS);
    cursor = result.nextCursor;
    if (cursor === undefined || seen.has(cursor)) return out;
    seen.add(cursor);
  }
  return out;
}
