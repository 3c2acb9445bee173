// The `subscriptions/listen` filter (MCP 2026-07-28) as the gateway parses it at the edge: what is
// honored, and a message naming the bad field for everything else.
import { describe, expect, it } from 'vitest';
import {
  MAX_RESOURCE_SUBSCRIPTIONS,
  MAX_URI_LENGTH,
  honoredFilter,
  kindsOf,
  parseListenFilter,
} from '../../src/ingress/listen-filter.js';

describe('parseListenFilter', () => {
  it.each([
    [{}, 'params.notifications, an object'],
    [{ notifications: null }, 'params.notifications, an object'],
    [{ notifications: [] }, 'params.notifications, an object'],
    [{ notifications: 'tools' }, 'params.notifications, an object'],
    [{ notifications: { toolsListChanged: 1 } }, 'params.notifications.toolsListChanged must be a boolean'],
    [{ notifications: { promptsListChanged: 'true' } }, 'params.notifications.promptsListChanged must be a boolean'],
    [{ notifications: { resourcesListChanged: {} } }, 'params.notifications.resourcesListChanged must be a boolean'],
    [{ notifications: { resourceSubscriptions: 'a://b' } }, 'resourceSubscriptions must be an array of URIs'],
    [{ notifications: { resourceSubscriptions: ['a://b', 7] } }, 'resourceSubscriptions[1] must be a URI'],
    [{ notifications: { resourceSubscriptions: [''] } }, 'resourceSubscriptions[0] must be a URI'],
    [{ notifications: { resourceSubscriptions: ['x'.repeat(MAX_URI_LENGTH + 1)] } }, 'resourceSubscriptions[0]'],
    [
      {
        notifications: {
          resourceSubscriptions: Array.from({ length: MAX_RESOURCE_SUBSCRIPTIONS + 1 }, (_, i) => `a://${i}`),
        },
      },
      `more than ${MAX_RESOURCE_SUBSCRIPTIONS} URIs`,
    ],
  ])('%j is refused: %s', (params, message) => {
    const parsed = parseListenFilter(params as Record<string, unknown>);
    expect('message' in parsed && parsed.message).toContain(message);
    expect('message' in parsed && parsed.message.startsWith('Invalid params: ')).toBe(true);
  });

  it.each([
    [{}, [], {}],
    [{ toolsListChanged: true, promptsListChanged: false }, ['tools'], { toolsListChanged: true }],
    [
      { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true, later: { x: 1 } },
      ['tools', 'prompts', 'resources'],
      { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true },
    ],
  ])('%j asks for %j and is acknowledged as %j', (notifications, kinds, honored) => {
    const parsed = parseListenFilter({ notifications });
    if (!('filter' in parsed)) throw new Error(parsed.message);
    expect(kindsOf(parsed.filter)).toEqual(kinds);
    expect(honoredFilter(parsed.filter, [])).toEqual(honored);
  });

  it('keeps each URI once, in the order given; only the honored ones are acknowledged', () => {
    const parsed = parseListenFilter({ notifications: { resourceSubscriptions: ['b://1', 'a://2', 'b://1'] } });
    if (!('filter' in parsed)) throw new Error(parsed.message);
    expect(parsed.filter.resourceSubscriptions).toEqual(['b://1', 'a://2']);
    expect(honoredFilter(parsed.filter, ['a://2'])).toEqual({ resourceSubscriptions: ['a://2'] });
    expect(honoredFilter(parsed.filter, [])).toEqual({});
  });
});
