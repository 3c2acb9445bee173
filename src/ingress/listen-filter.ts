// The `subscriptions/listen` filter of MCP 2026-07-28: what a 2026 agent opts in to on one listen
// stream. Pure: parsed at the edge, with a message naming the bad field; nothing else is trusted.
import type { ListKind } from '../model/catalog.js';

/** The notifications one listen stream carries, as the agent asked for them. */
export interface ListenFilter {
  toolsListChanged: boolean;
  promptsListChanged: boolean;
  resourcesListChanged: boolean;
  /** URIs whose `notifications/resources/updated` the agent asked for (deduplicated, in the order given). */
  resourceSubscriptions: string[];
}

/** At most this many URIs on one stream, each at most this long: a listen is not a way to flood downstreams. */
export const MAX_RESOURCE_SUBSCRIPTIONS = 100;
export const MAX_URI_LENGTH = 2048;

const FLAGS = ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const;

/** The list kind each flag opts in to. */
export const KIND_OF_FLAG: Readonly<Record<(typeof FLAGS)[number], ListKind>> = {
  toolsListChanged: 'tools',
  promptsListChanged: 'prompts',
  resourcesListChanged: 'resources',
};

/**
 * `params.notifications` of a `subscriptions/listen` request (the envelope already taken off), or why it
 * is not one. Unknown keys of the filter are not honored (a later revision's), never an error.
 */
export function parseListenFilter(params: Record<string, unknown>): { filter: ListenFilter } | { message: string } {
  const value = params.notifications;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { message: 'Invalid params: subscriptions/listen needs params.notifications, an object' };
  const raw = value as Record<string, unknown>;
  for (const flag of FLAGS) {
    if (raw[flag] !== undefined && typeof raw[flag] !== 'boolean')
      return { message: `Invalid params: params.notifications.${flag} must be a boolean` };
  }
  const uris = raw.resourceSubscriptions;
  if (uris !== undefined) {
    if (!Array.isArray(uris))
      return { message: 'Invalid params: params.notifications.resourceSubscriptions must be an array of URIs' };
    if (uris.length > MAX_RESOURCE_SUBSCRIPTIONS)
      return {
        message: `Invalid params: params.notifications.resourceSubscriptions names more than ${MAX_RESOURCE_SUBSCRIPTIONS} URIs`,
      };
    const bad = uris.findIndex((uri) => typeof uri !== 'string' || uri.length === 0 || uri.length > MAX_URI_LENGTH);
    if (bad !== -1)
      return {
        message: `Invalid params: params.notifications.resourceSubscriptions[${bad}] must be a URI of 1 to ${MAX_URI_LENGTH} characters`,
      };
  }
  return {
    filter: {
      toolsListChanged: raw.toolsListChanged === true,
      promptsListChanged: raw.promptsListChanged === true,
      resourcesListChanged: raw.resourcesListChanged === true,
      resourceSubscriptions: [...new Set((uris as string[] | undefined) ?? [])],
    },
  };
}

/** The list kinds a filter opts in to. */
export function kindsOf(filter: ListenFilter): ListKind[] {
  return FLAGS.filter((flag) => filter[flag]).map((flag) => KIND_OF_FLAG[flag]);
}

/** The filter as the acknowledgement states it: only what is honored, `resourceSubscriptions` only when any is. */
export function honoredFilter(filter: ListenFilter, uris: readonly string[]): Record<string, unknown> {
  return {
    ...(filter.toolsListChanged && { toolsListChanged: true }),
    ...(filter.promptsListChanged && { promptsListChanged: true }),
    ...(filter.resourcesListChanged && { resourcesListChanged: true }),
    ...(uris.length > 0 && { resourceSubscriptions: [...uris] }),
  };
}
