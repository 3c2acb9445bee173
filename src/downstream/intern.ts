/**
 * One copy of each list a server presents, shared by every connection that received an identical one.
 * Every agent session has its own connection to each server (isolation), but a thousand sessions on
 * one server version would otherwise keep a thousand parsed copies of the same 1,000-tool list. Lists
 * are compared by their JSON text; a few recent versions per server and kind are remembered.
 */
const VERSIONS_KEPT = 4;
const remembered = new Map<string, { json: string; list: readonly unknown[] }[]>();
const EMPTY: readonly never[] = Object.freeze([]);

export function internList<T>(serverId: string, kind: string, list: readonly T[]): readonly T[] {
  if (list.length === 0) return EMPTY;
  const key = `${serverId}\u0000${kind}`;
  const json = JSON.stringify(list);
  const versions = remembered.get(key) ?? [];
  const found = versions.find((version) => version.json === json);
  if (found) return found.list as readonly T[];
  versions.push({ json, list });
  if (versions.length > VERSIONS_KEPT) versions.shift();
  remembered.set(key, versions);
  return list;
}
