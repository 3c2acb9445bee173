import { ErrorCode, McpError, type ResourceTemplate } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { Catalog, ListKind } from '../model/catalog.js';
import { internList } from './intern.js';
import type { DownstreamClient } from './modern-client.js';
import { fetchAllPages } from './paging.js';

const EMPTY_CATALOG: Catalog = { tools: [], prompts: [], resources: [], templates: [] };

export interface CatalogRefreshOptions {
  serverId: string;
  log: Logger;
  /** The connection's client while it is ready; re-lists need one and stop when it changes. */
  client: () => DownstreamClient | undefined;
  /** Told which lists changed once a re-list has put them into the catalog. */
  changed: (kinds: readonly ListKind[]) => void;
}

/**
 * One server's lists as the gateway last read them (src/downstream/connection.ts supervises the
 * connection they are read over): every list on each connect, one kind again on the server's
 * `list_changed` or on a routing miss.
 */
export class CatalogRefresh {
  private value: Catalog = EMPTY_CATALOG;
  /** Bumped whenever every list is fetched anew: a re-list begun before that is older and dropped. */
  private generation = 0;
  /** Re-lists in progress per kind (see relist()). */
  private readonly rounds: Record<ListKind, { running: Promise<void> | undefined; again: boolean; told: boolean }> = {
    tools: { running: undefined, again: false, told: false },
    prompts: { running: undefined, again: false, told: false },
    resources: { running: undefined, again: false, told: false },
  };

  constructor(private readonly options: CatalogRefreshOptions) {}

  get catalog(): Catalog {
    return this.value;
  }

  /** Fetches every list the server announces (on each connect) and makes them the catalog. */
  async load(client: DownstreamClient): Promise<void> {
    const catalog = await fetchCatalog(client, this.options.serverId);
    this.generation += 1;
    this.value = catalog;
  }

  /** Lists that kind again now (merged with a refresh under way); resolves once the catalog has it. */
  refresh(kind: ListKind): Promise<void> {
    const client = this.options.client();
    if (!client) return Promise.resolve();
    if (kind === 'resources' && !client.getServerCapabilities()?.resources) return Promise.resolve();
    return this.relist(kind, true);
  }

  /**
   * One refresh per kind at a time. A list_changed that arrives while that kind's refresh is under way
   * is merged into one more round after it, so the newest list always wins; and each round writes only
   * its own kind into the catalog as it is then (never a copy taken before the await, which would put
   * back another kind's older list).
   */
  relist(kind: ListKind, onRequest = false): Promise<void> {
    const state = this.rounds[kind];
    // The server said the list changed: the agent is told even if it looks the same (a re-list on a
    // routing miss, `onRequest`, tells it only of a real difference).
    if (!onRequest) state.told = true;
    if (state.running) {
      state.again = true;
      return state.running;
    }
    state.running = this.relistRounds(kind).finally(() => (state.running = undefined));
    return state.running;
  }

  private async relistRounds(kind: ListKind): Promise<void> {
    const state = this.rounds[kind];
    let changed = false;
    do {
      state.again = false;
      const client = this.options.client();
      if (!client) return;
      const generation = this.generation;
      try {
        const update = await fetchKind(client, this.options.serverId, kind);
        // A reconnect fetched every list afresh meanwhile: this round's answer is older than that.
        if (generation !== this.generation || this.options.client() !== client) return;
        // Interned lists (intern.ts): an unchanged list is the very same array, and nobody is told.
        const before = this.value;
        this.value = { ...before, ...update } as Catalog;
        if (state.told || (Object.keys(update) as (keyof Catalog)[]).some((key) => update[key] !== before[key]))
          changed = true;
      } catch (error) {
        this.options.log.warn(
          { kind, err: error instanceof Error ? error.message : String(error) },
          're-list after list_changed failed; keeping the previous list',
        );
      }
    } while (state.again);
    state.told = false;
    if (changed) this.options.changed([kind]);
  }
}

/** The kinds whose lists differ between two catalogs (after a restart, which lists changed). */
export function changedKinds(before: Catalog, after: Catalog): ListKind[] {
  const kinds: ListKind[] = [];
  if (JSON.stringify(before.tools) !== JSON.stringify(after.tools)) kinds.push('tools');
  if (JSON.stringify(before.prompts) !== JSON.stringify(after.prompts)) kinds.push('prompts');
  if (JSON.stringify([before.resources, before.templates]) !== JSON.stringify([after.resources, after.templates]))
    kinds.push('resources');
  return kinds;
}

async function fetchCatalog(client: DownstreamClient, id: string): Promise<Catalog> {
  const caps = client.getServerCapabilities() ?? {};
  const [tools, prompts, resources, templates] = await Promise.all([
    caps.tools
      ? fetchAllPages(
          (cursor) => client.listTools(cursor ? { cursor } : {}),
          (r) => r.tools,
        )
      : [],
    caps.prompts
      ? fetchAllPages(
          (cursor) => client.listPrompts(cursor ? { cursor } : {}),
          (r) => r.prompts,
        )
      : [],
    caps.resources
      ? fetchAllPages(
          (cursor) => client.listResources(cursor ? { cursor } : {}),
          (r) => r.resources,
        )
      : [],
    caps.resources ? listTemplates(client) : [],
  ]);
  return {
    tools: internList(id, 'tools', tools),
    prompts: internList(id, 'prompts', prompts),
    resources: internList(id, 'resources', resources),
    templates: internList(id, 'templates', templates),
  } as Catalog;
}

/** One kind's lists fetched again (resources come with their templates). */
async function fetchKind(client: DownstreamClient, id: string, kind: ListKind): Promise<Partial<Catalog>> {
  if (kind === 'tools')
    return {
      tools: internList(
        id,
        'tools',
        await fetchAllPages(
          (c) => client.listTools(c ? { cursor: c } : {}),
          (r) => r.tools,
        ),
      ),
    };
  if (kind === 'prompts')
    return {
      prompts: internList(
        id,
        'prompts',
        await fetchAllPages(
          (c) => client.listPrompts(c ? { cursor: c } : {}),
          (r) => r.prompts,
        ),
      ),
    };
  const [resources, templates] = await Promise.all([
    fetchAllPages(
      (c) => client.listResources(c ? { cursor: c } : {}),
      (r) => r.resources,
    ),
    listTemplates(client),
  ]);
  return { resources: internList(id, 'resources', resources), templates: internList(id, 'templates', templates) };
}

/** Resource templates; a server with resources but no templates method (-32601) simply has none. */
async function listTemplates(client: DownstreamClient): Promise<ResourceTemplate[]> {
  try {
    return await fetchAllPages(
      (cursor) => client.listResourceTemplates(cursor ? { cursor } : {}),
      (r) => r.resourceTemplates,
    );
  } catch (error) {
    if (error instanceof McpError && error.code === ErrorCode.MethodNotFound) return [];
    throw error;
  }
}
