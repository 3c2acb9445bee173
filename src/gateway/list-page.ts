// One page of a list as the pipeline filters it for this caller, as an object (the SDK path) or as its
// JSON bytes (the HTTP and stdio hot paths), whose catalog part is remembered serialised and encoded
// (docs/performance.md, "The serialised list page").
import { randomUUID } from 'node:crypto';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { LRUCache } from 'lru-cache';
import type { Aggregate } from '../model/catalog.js';
import type { ListContext, ListMethod } from '../pipeline/context.js';
import { WireError } from '../pipeline/denial.js';
import type { ListEntry, RememberedList } from '../pipeline/orchestrator.js';
import type { AgentSession } from './agent-session.js';
import { requestTraceparent } from './call-context.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { Extra } from './session-host.js';

export type ListKey = 'tools' | 'prompts' | 'resources' | 'resourceTemplates';

/** How a list method finds its entries in a merged view. */
export interface ListSpec<T> {
  method: ListMethod;
  key: ListKey;
  /** The catalog's entries: the same for as long as the view is the same. */
  pick: (view: Aggregate) => ListEntry<T>[];
  /**
   * The gateway's own entries (the task meta-tools), decided on every list and listed after the
   * catalog's: an agent (or a client that takes the first tool) meets its servers' tools first.
   */
  own?: (view: Aggregate) => ListEntry<T>[];
}

/**
 * A page: `result()` for the SDK to serialise; `chunks()` the same result's JSON as UTF-8, in pieces to
 * be written in order (the catalog's part is a remembered buffer: encoding a 1,000-tool page's 225 KB
 * of text on every list cost more than everything else the list does).
 */
export interface ListPage {
  result(): Record<string, unknown>;
  chunks(): Buffer[];
}

/** Serialised catalog slices per merged view (views are shared by sessions with the same catalogs). */
const serialised = new WeakMap<Aggregate, LRUCache<string, Buffer>>();
/** Slices kept per view: pages of a few callers with different grants, at most this many bytes. */
const SLICES_PER_VIEW = 16;
const BYTES_PER_VIEW = 32 * 1024 * 1024;
/** A remembered decision's verdicts as text, made once per decision: which catalog entries are shown. */
const signatures = new WeakMap<RememberedList, string>();

/**
 * Filters the view's list for this caller (authenticated and recorded every time) and cuts the page.
 * The JSON of the catalog part is a function of the view, which entries are shown and the slice: it is
 * remembered per view under exactly those, and only when the decisions were remembered (so a new
 * policy, principal, task, pin or catalog, each of which gives a new decision or a new view, gives a
 * new text).
 */
export async function listPage<T>(
  session: AgentSession,
  extra: Extra,
  spec: ListSpec<T>,
  cursor: string | undefined,
): Promise<ListPage> {
  const { method, key } = spec;
  const offset = decodeCursor(method, cursor);
  if (offset === undefined) throw new WireError(ErrorCode.InvalidParams, 'Invalid cursor');
  const principal = await session.principal(extra);
  const traceparent = requestTraceparent(extra._meta, extra.requestInfo?.headers);
  const ctx: ListContext = {
    requestId: randomUUID(),
    ingress: session.options.ingress,
    sessionId: session.sessionId,
    ...session.version(),
    principal,
    method,
    ...(offset > 0 && { offset }),
    ...(traceparent && { traceparent }),
  };
  const view = await session.currentView();
  // The catalog's entries are made once per merged view, so its decisions can be remembered (a new
  // view, after any server's catalog changed, starts afresh); the policy, principal, task and pins are
  // in the authorizer's list key (src/pipeline/orchestrator.ts, filterList).
  let lists = session.catalogEntries.get(view);
  if (!lists) session.catalogEntries.set(view, (lists = new Map()));
  let catalog = lists.get(method) as ListEntry<T>[] | undefined;
  if (!catalog) lists.set(method, (catalog = spec.pick(view)));
  // Decided (and recorded) with the gateway's own entries first, so the catalog's part stays the
  // remembered tail; listed with the catalog's shown entries first and the gateway's after them.
  const first = spec.own?.(view) ?? [];
  const entries = first.length === 0 ? catalog : [...first, ...catalog];
  const { shown: decided, remembered } = session.host.pipeline.filterListRemembered(ctx, entries, {
    source: catalog,
    from: first.length,
  });
  session.tasks?.listed(method, decided);
  // decided[0 .. lead) are the gateway's own shown entries, decided[lead ..) the catalog's.
  const lead = decided.length - (remembered ? remembered.shown.length : countCatalog(decided, first));
  const visible = lead === 0 ? decided : [...decided.slice(lead), ...decided.slice(0, lead)];
  const catalogShown = visible.length - lead;
  const size = session.host.listPageSize;
  const end = Math.min(visible.length, offset + size);
  const items = visible.slice(offset, end);
  const nextCursor = end < visible.length ? encodeCursor(method, end) : undefined;
  const result = (): Record<string, unknown> =>
    nextCursor === undefined ? { [key]: items } : { [key]: items, nextCursor };
  return {
    result,
    chunks: () => {
      if (!remembered) return [Buffer.from(JSON.stringify(result()))];
      const from = Math.min(offset, catalogShown);
      const to = Math.min(end, catalogShown);
      const head = catalogSlice(view, method, remembered, decided, lead, from, to);
      const own = items.slice(Math.max(0, catalogShown - offset));
      const tail = own.map((item) => JSON.stringify(item)).join(',');
      const cursorPart = nextCursor === undefined ? '' : `,"nextCursor":${JSON.stringify(nextCursor)}`;
      const close = `${head.length > 0 && tail ? ',' : ''}${tail}]${cursorPart}}`;
      return [Buffer.from(`{${JSON.stringify(key)}:[`), head, Buffer.from(close)];
    },
  };
}

/** How many of the shown entries are the catalog's: those that are not one of the gateway's own. */
function countCatalog<T>(shown: readonly T[], own: readonly ListEntry<T>[]): number {
  const items = new Set<unknown>(own.map((entry) => entry.item));
  return shown.filter((item) => !items.has(item)).length;
}

/** The JSON of the catalog's shown entries `from` to `to` (comma-joined, UTF-8), remembered per view. */
function catalogSlice(
  view: Aggregate,
  method: ListMethod,
  remembered: RememberedList,
  visible: readonly unknown[],
  lead: number,
  from: number,
  to: number,
): Buffer {
  let signature = signatures.get(remembered);
  if (signature === undefined) {
    const v = remembered.verdicts;
    signature = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    signatures.set(remembered, signature);
  }
  let slices = serialised.get(view);
  if (!slices) {
    slices = new LRUCache<string, Buffer>({
      max: SLICES_PER_VIEW,
      maxSize: BYTES_PER_VIEW,
      sizeCalculation: (bytes) => Math.max(1, bytes.length),
    });
    serialised.set(view, slices);
  }
  const id = `${method}\u0000${from}\u0000${to}\u0000${signature}`;
  let bytes = slices.get(id);
  if (bytes === undefined) {
    const parts: string[] = [];
    for (let i = lead + from; i < lead + to; i += 1) parts.push(JSON.stringify(visible[i]));
    bytes = Buffer.from(parts.join(','));
    if (bytes.length <= BYTES_PER_VIEW) slices.set(id, bytes);
  }
  return bytes;
}
