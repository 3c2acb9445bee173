import type { Principal } from '../model/principal.js';
import { LIST_VERDICT } from '../model/list-verdict.js';
import type { ListMethod } from '../pipeline/context.js';
import type { ListReplayRecord, ListsNotReplayed, Missing } from '../pipeline/replay-records.js';
import { bitSet, LIST_CATALOG, LIST_SHOWN, type ListCatalogRef } from './list-record.js';
import type { PrincipalBody, ReplayFilter } from './replay-read.js';
import type { Db } from './store.js';

interface ListData extends PrincipalBody {
  method?: ListMethod;
  offset?: number;
  revoked?: string;
  catalogs?: ListCatalogRef[];
}

/** A catalog's items that pass the filter, with their positions in the catalog. */
interface Catalog {
  items: { server: string; target: string }[];
  positions: number[];
  size: number;
  redacted: boolean;
}

const GLOB = /[*?[]/;

/**
 * Reads recorded list requests back for a policy replay (src/audit/list-record.ts), oldest first,
 * streamed: each with its principal and the items of its catalogs that pass the `--server` and `--tool`
 * filters (matched as `audit list` matches them: SQLite GLOB), each with the verdict it was given.
 */
export function listSource(
  db: Db,
  filter: ReplayFilter,
  principalOf: (body: PrincipalBody, revoked: string | undefined) => Principal,
): { records: Iterable<ListReplayRecord>; notReplayed(): ListsNotReplayed } {
  const clauses = ["kind = 'event'", 'type = ?'];
  const params: unknown[] = [LIST_SHOWN];
  const add = (clause: string, value: unknown) => {
    clauses.push(clause);
    params.push(value);
  };
  if (filter.since !== undefined) add('ts >= ?', filter.since);
  if (filter.until !== undefined) add('ts < ?', filter.until);
  if (filter.agent !== undefined) add(GLOB.test(filter.agent) ? 'subject GLOB ?' : 'subject = ?', filter.agent);
  const statement = db
    .prepare<unknown[], [string, number, string]>(
      `SELECT id, ts, body FROM entries WHERE ${clauses.join(' AND ')} ORDER BY ts, seq`,
    )
    .raw(true);
  const catalogs = catalogReader(db, filter);
  const skipped: ListsNotReplayed = { pages: 0, noCatalog: 0 };

  function* read(): Generator<ListReplayRecord> {
    for (const [id, startedAt, text] of statement.iterate(...params)) {
      const data = (JSON.parse(text) as { data?: ListData }).data;
      if (!data?.principal || !data.method || !Array.isArray(data.catalogs)) continue;
      if (data.offset !== undefined && data.offset > 0) {
        skipped.pages += 1;
        continue;
      }
      const items: Catalog['items'] = [];
      const verdicts: number[] = [];
      let redacted = false;
      let complete = true;
      for (const ref of data.catalogs) {
        const catalog = catalogs(ref.catalog);
        if (!catalog || catalog.size !== ref.items) {
          complete = false;
          break;
        }
        redacted ||= catalog.redacted;
        const shown = Buffer.from(ref.shown, 'base64');
        const held = ref.held === undefined ? undefined : Buffer.from(ref.held, 'base64');
        catalog.positions.forEach((position, i) => {
          items.push(catalog.items[i]!);
          verdicts.push(
            bitSet(shown, position)
              ? LIST_VERDICT.shown
              : held && bitSet(held, position)
                ? LIST_VERDICT.held
                : LIST_VERDICT.hidden,
          );
        });
      }
      if (!complete) {
        skipped.noCatalog += 1;
        continue;
      }
      if (items.length === 0) continue; // nothing in it passes the server and tool filters
      const missing: Missing[] = redacted ? ['names-redacted'] : [];
      yield {
        id,
        startedAt,
        method: data.method,
        principal: principalOf(data, data.revoked),
        items,
        verdicts,
        missing,
      };
    }
  }
  return { records: read(), notReplayed: () => ({ ...skipped }) };
}

/** Loads catalogs by digest (once each), reassembled from their parts and narrowed to the filter. */
function catalogReader(db: Db, filter: ReplayFilter): (digest: string) => Catalog | undefined {
  const parts = db
    .prepare<[string, string], [string]>(
      "SELECT body FROM entries WHERE kind = 'event' AND type = ? AND target = ? ORDER BY seq",
    )
    .raw(true);
  const glob = db.prepare<[string, string], number>('SELECT ? GLOB ?').pluck();
  const matches = (value: string, pattern: string | undefined) =>
    pattern === undefined || (GLOB.test(pattern) ? glob.get(value, pattern) === 1 : value === pattern);
  const cache = new Map<string, Catalog | undefined>();
  return (digest) => {
    if (cache.has(digest)) return cache.get(digest);
    let found: { server: string; redacted: boolean; slots: (string[] | undefined)[] } | undefined;
    for (const [text] of parts.iterate(LIST_CATALOG, digest)) {
      const data = (
        JSON.parse(text) as {
          data?: { server?: string; part?: number; parts?: number; items?: string[]; redacted?: boolean };
        }
      ).data;
      if (
        !data ||
        typeof data.server !== 'string' ||
        !Array.isArray(data.items) ||
        !Number.isInteger(data.part) ||
        !Number.isInteger(data.parts)
      )
        continue;
      found ??= {
        server: data.server,
        redacted: data.redacted === true,
        slots: new Array<string[] | undefined>(data.parts!).fill(undefined),
      };
      if (data.parts === found.slots.length && found.slots[data.part!] === undefined)
        found.slots[data.part!] = data.items;
      if (found.slots.every((slot) => slot !== undefined)) break;
    }
    let catalog: Catalog | undefined;
    if (found && found.slots.every((slot) => slot !== undefined)) {
      const names = found.slots.flat() as string[];
      catalog = { items: [], positions: [], size: names.length, redacted: found.redacted };
      if (matches(found.server, filter.server)) {
        names.forEach((target, position) => {
          if (!matches(target, filter.tool)) return;
          catalog!.items.push({ server: found!.server, target });
          catalog!.positions.push(position);
        });
      }
    }
    cache.set(digest, catalog);
    return catalog;
  };
}
