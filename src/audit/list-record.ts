import { createHash } from 'node:crypto';
import { LIST_VERDICT, type ListDecisions } from '../model/list-verdict.js';
import type { ListContext } from '../pipeline/context.js';
import { newRecordId } from '../model/canonical.js';
import type { EntryInput } from './chain.js';
import { principalFields, type RecordSettings } from './record.js';

/** The event recording one list request: who asked, and per catalog which items were shown. */
export const LIST_SHOWN = 'list.shown';
/** The event holding one server's catalog for one list method (its item names or URIs), in parts. */
export const LIST_CATALOG = 'list.catalog';

/** A catalog this process wrote is written again after this long, so pruning by age rarely parts a list from its catalog. */
const CATALOG_REFRESH_MS = 3_600_000;
/** Catalogs remembered per process (when each was written, and its digest by the names' hash): cleared when full. */
const MAX_KNOWN = 1_024;
/** Room in a catalog part for everything but its items. */
const PART_OVERHEAD = 192;

/** One server's part of a list record: its catalog, and which of its items were shown or held back. */
export interface ListCatalogRef {
  server: string;
  catalog: string;
  items: number;
  /** Base64 of a bitmap over the catalog's items (bit i of byte i >> 3): shown to the agent. */
  shown: string;
  /** The same for items the policy allowed but a definition pin held back; absent when there are none. */
  held?: string;
}

/**
 * Builds the audit entries of list requests. A list is recorded as small as it can be while replayable:
 * the item names live in catalog events, written once per catalog (per server and method, identified by
 * a digest of its names) and again after an hour; each list record holds the principal as intents do,
 * the catalogs' digests and a bitmap of what was shown. No definitions, descriptions or schemas are
 * recorded (policy decides on names alone; pins, which read definitions, are not policy), and every name
 * passes the egress stage before it is stored or digested.
 */
export class ListRecorder {
  private readonly written = new Map<string, number>();
  private readonly digests = new Map<string, { digest: string; items: string[]; redacted: boolean }>();

  constructor(
    private readonly instance: string,
    private readonly s: RecordSettings,
  ) {}

  /** The entries for one list request: the catalogs not written lately, then the list record. */
  entries(ctx: ListContext, decided: ListDecisions, now: number): EntryInput[] {
    const out: EntryInput[] = [];
    const catalogs: ListCatalogRef[] = [];
    for (const [server, indexes] of byServer(decided)) {
      const catalog = this.catalogOf(
        ctx.method,
        server,
        indexes.map((i) => decided.entries[i]!.target),
      );
      const last = this.written.get(catalog.digest);
      if (last === undefined || now - last >= CATALOG_REFRESH_MS) {
        out.push(...this.catalogEntries(ctx.method, server, catalog, now));
        if (this.written.size >= MAX_KNOWN) this.written.clear();
        this.written.set(catalog.digest, now);
      }
      const held = bitmap(decided.verdicts, indexes, LIST_VERDICT.held);
      catalogs.push({
        server,
        catalog: catalog.digest,
        items: indexes.length,
        shown: bitmap(decided.verdicts, indexes, LIST_VERDICT.shown) ?? '',
        ...(held !== undefined && { held }),
      });
    }
    const p = ctx.principal;
    const data = {
      method: ctx.method,
      ingress: ctx.ingress,
      session: ctx.sessionId,
      requestId: ctx.requestId,
      offset: ctx.offset !== undefined && ctx.offset > 0 ? ctx.offset : undefined,
      ...principalFields(p, this.s),
      revoked: p.revoked === undefined ? undefined : this.s.redact(p.revoked),
      shown: decided.shown,
      hidden: decided.hidden,
      catalogs,
    };
    out.push(
      event(
        LIST_SHOWN,
        this.instance,
        now,
        { subject: p.subject, taskId: p.task?.id ?? null, server: null, target: null },
        data,
      ),
    );
    return out;
  }

  private catalogOf(
    method: string,
    server: string,
    targets: string[],
  ): { digest: string; items: string[]; redacted: boolean } {
    // Keyed by a hash of the names as the view holds them (memory only), so a list of an unchanged catalog passes no name through the egress stage.
    const key = createHash('sha256')
      .update(`${method}\u0000${server}\u0000${targets.join('\u0000')}`)
      .digest('base64url');
    const known = this.digests.get(key);
    if (known) return known;
    const items = targets.map((target) => this.s.redact(target));
    const redacted = items.some((item, i) => item !== targets[i]);
    // Over the stored (egress-cleaned) names: a digest never derives from a secret value.
    const digest = createHash('sha256')
      .update(JSON.stringify([method, server, items]))
      .digest('base64url')
      .slice(0, 32);
    const catalog = { digest, items, redacted };
    if (this.digests.size >= MAX_KNOWN) this.digests.clear();
    this.digests.set(key, catalog);
    return catalog;
  }

  /** A catalog in parts of at most `maxArgumentBytes` of names each (however large the catalog, each row stays small). */
  private catalogEntries(
    method: string,
    server: string,
    catalog: { digest: string; items: string[]; redacted: boolean },
    now: number,
  ): EntryInput[] {
    const budget = Math.max(64, this.s.maxArgumentBytes - PART_OVERHEAD);
    const parts: string[][] = [];
    let current: string[] = [];
    let bytes = 0;
    for (const item of catalog.items) {
      const size = Buffer.byteLength(JSON.stringify(item)) + 1;
      if (current.length > 0 && bytes + size > budget) {
        parts.push(current);
        current = [];
        bytes = 0;
      }
      current.push(item);
      bytes += size;
    }
    parts.push(current);
    return parts.map((items, part) =>
      event(
        LIST_CATALOG,
        this.instance,
        now,
        { subject: null, taskId: null, server, target: catalog.digest },
        {
          method,
          server,
          catalog: catalog.digest,
          part,
          parts: parts.length,
          ...(catalog.redacted && { redacted: true }),
          items,
        },
      ),
    );
  }
}

/** The entries' indexes grouped by server, servers in order of first appearance. */
function byServer(decided: ListDecisions): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  decided.entries.forEach((entry, i) => {
    const group = groups.get(entry.server);
    if (group) group.push(i);
    else groups.set(entry.server, [i]);
  });
  return groups;
}

/** Base64 of the bitmap of the indexes whose verdict is `verdict`; undefined when none is. */
function bitmap(verdicts: Uint8Array, indexes: readonly number[], verdict: number): string | undefined {
  const bits = new Uint8Array((indexes.length + 7) >> 3);
  let any = false;
  indexes.forEach((index, i) => {
    if (verdicts[index] !== verdict) return;
    bits[i >> 3]! |= 1 << (i & 7);
    any = true;
  });
  return any ? Buffer.from(bits).toString('base64') : undefined;
}

/** Whether bit `i` is set in a bitmap written by `bitmap`. */
export function bitSet(bits: Uint8Array, i: number): boolean {
  return ((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
}

function event(
  type: string,
  instance: string,
  now: number,
  columns: Pick<EntryInput, 'subject' | 'taskId' | 'server' | 'target'>,
  data: object,
): EntryInput {
  return {
    id: newRecordId(now),
    kind: 'event',
    ts: now,
    startedAt: now,
    instance,
    type,
    ...columns,
    decision: null,
    outcome: null,
    body: JSON.stringify({ v: 1, data }),
  };
}
