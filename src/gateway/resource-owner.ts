import type { Aggregate } from '../model/catalog.js';

/** URIs a session learnt the owner of outside any list (resource links, resources/updated); oldest dropped first. */
const MAX_ANNOUNCED = 1_000;

/**
 * Where a resource URI that is in no list goes, in this order (README, Registering a server): the
 * server that announced it to this session (a resource link in a result, `resources/updated`), then,
 * after the servers re-listed (see AgentSession), a listed resource or a matching template, and last
 * the first server in config order that lists or templates any URI of the same scheme, so that a
 * real miss is answered by the server itself, with its own error code.
 */
export class ResourceOwners {
  private readonly announced = new Map<string, string>();

  announce(uri: string, server: string): void {
    this.announced.delete(uri);
    this.announced.set(uri, server);
    if (this.announced.size > MAX_ANNOUNCED) this.announced.delete(this.announced.keys().next().value!);
  }

  /** Every `resource_link` (and embedded resource) in a tool result is announced as the calling server's. */
  announceLinks(result: unknown, server: string): void {
    const content = (result as { content?: unknown } | undefined)?.content;
    if (!Array.isArray(content)) return;
    for (const block of content as { type?: unknown; uri?: unknown; resource?: { uri?: unknown } }[]) {
      if (block?.type === 'resource_link' && typeof block.uri === 'string') this.announce(block.uri, server);
      if (block?.type === 'resource' && typeof block.resource?.uri === 'string')
        this.announce(block.resource.uri, server);
    }
  }

  announcedOwner(uri: string): string | undefined {
    return this.announced.get(uri);
  }
}

/** The first server in the view (config order) with a listed resource or template of the URI's scheme. */
export function sameSchemeOwner(view: Aggregate, order: readonly string[], uri: string): string | undefined {
  const scheme = schemeOf(uri);
  if (scheme === undefined) return undefined;
  const candidates = new Set<string>();
  for (const { server, item } of view.resources.values()) if (schemeOf(item.uri) === scheme) candidates.add(server);
  for (const { server, item } of view.templates) if (schemeOf(item.uriTemplate) === scheme) candidates.add(server);
  return order.find((server) => candidates.has(server));
}

function schemeOf(uri: string): string | undefined {
  return /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
}
