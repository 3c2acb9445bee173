import type { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';

/*
 * What every stage may know about catalogs: one server's lists as it sent them, and the merged view
 * an agent sees (built by gateway/catalog.ts, read by tasks, pins and the session).
 */

/** The list kinds a downstream announces changes of. */
export type ListKind = 'tools' | 'prompts' | 'resources';

/** One server's lists, as the downstream sent them. */
export interface Catalog {
  tools: readonly Tool[];
  prompts: readonly Prompt[];
  resources: readonly Resource[];
  templates: readonly ResourceTemplate[];
}

/** Tool names are namespaced `<server>__<tool>`. */
export const NAMESPACE_SEPARATOR = '__';

/** Arguments the gateway fills in (secrets), per downstream tool name: absent from what the agent sees. */
export type HiddenArguments = (tool: string) => readonly string[];

export interface CatalogSource {
  serverId: string;
  /** Arguments the gateway fills in, per downstream tool name: absent from what the agent sees. */
  hiddenArguments?: HiddenArguments;
  /** `false`: names are exposed as the downstream spells them. */
  prefix: string | false;
  catalog: Catalog;
}

export interface Routed<T> {
  server: string;
  /** The name as the downstream knows it. */
  downstreamName: string;
  /** The definition as the agent sees it (renamed, text cleaned). */
  item: T;
  /** SHA-256 of the definition as the downstream sent it (src/integrity/hash.ts): what pins and approvals are bound to. */
  definitionHash: string;
}

export interface Problem {
  kind: 'invalid_name' | 'invalid_definition' | 'collision' | 'shadowed_resource';
  server: string;
  detail: string;
}

/** Every server's lists merged into the agent's view, with the routes back to each owner. */
export interface Aggregate {
  tools: Map<string, Routed<Tool>>;
  prompts: Map<string, Routed<Prompt>>;
  resources: Map<string, { server: string; item: Resource }>;
  templates: { server: string; item: ResourceTemplate; matcher: UriTemplate | undefined }[];
  problems: Problem[];
}

export function exposedName(prefix: string | false, name: string): string {
  return prefix === false ? name : `${prefix}${NAMESPACE_SEPARATOR}${name}`;
}
