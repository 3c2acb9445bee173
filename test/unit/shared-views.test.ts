// Sessions on the same server version share one copy of its lists and one merged view.
import { describe, expect, it } from 'vitest';
import { internList } from '../../src/downstream/intern.js';
import { aggregate } from '../../src/gateway/catalog.js';
import type { CatalogSource } from '../../src/model/catalog.js';
import { Egress } from '../../src/egress/egress.js';

/** The egress stage, as the gateway builds it (no secret known: definitions pass unchanged). */
const EGRESS = new Egress();

const tools = (description: string) => [
  { name: 'read', description, inputSchema: { type: 'object' as const } },
  { name: 'write', inputSchema: { type: 'object' as const, properties: { text: { type: 'string' } } } },
];

function source(serverId: string, list: ReturnType<typeof tools>): CatalogSource {
  return {
    serverId,
    prefix: serverId,
    catalog: {
      tools: list,
      prompts: internList(serverId, 'prompts', []),
      resources: internList(serverId, 'resources', []),
      templates: internList(serverId, 'templates', []),
    },
  };
}

describe('shared lists and views', () => {
  it('two connections that received identical lists share one copy; a different list stays its own', () => {
    const first = internList('srv-a', 'tools', tools('Reads.'));
    const second = internList('srv-a', 'tools', tools('Reads.'));
    expect(second).toBe(first);
    const changed = internList('srv-a', 'tools', tools('Reads, and more.'));
    expect(changed).not.toBe(first);
    expect(changed[0]?.description).toBe('Reads, and more.');
    expect(internList('srv-b', 'tools', tools('Reads.'))).not.toBe(first); // per server
    expect(internList('srv-a', 'prompts', [])).toBe(internList('srv-b', 'tools', []));
  });

  it('the same sources give the same merged view; a changed list gives a new one with the change', () => {
    const one = aggregate(EGRESS, [
      source('v1', internList('v1', 'tools', tools('Reads.')) as ReturnType<typeof tools>),
    ]);
    const two = aggregate(EGRESS, [
      source('v1', internList('v1', 'tools', tools('Reads.')) as ReturnType<typeof tools>),
    ]);
    expect(two).toBe(one);
    const three = aggregate(EGRESS, [
      source('v1', internList('v1', 'tools', tools('Reads files.')) as ReturnType<typeof tools>),
    ]);
    expect(three).not.toBe(one);
    expect(three.tools.get('v1__read')?.item.description).toBe('Reads files.');
    expect(three.tools.get('v1__read')?.definitionHash).not.toBe(one.tools.get('v1__read')?.definitionHash);
    // A different prefix or server is a different view even over the same lists.
    const list = internList('v1', 'tools', tools('Reads.')) as ReturnType<typeof tools>;
    expect(aggregate(EGRESS, [{ ...source('v1', list), prefix: 'other' }]).tools.has('other__read')).toBe(true);
  });

  it('definitions pass the egress stage once per downstream list, not once per session', () => {
    const egress = new Egress();
    egress.remember('shared-view-secret-0123');
    let walks = 0;
    const counting = { scrubValue: <T>(value: T): T => (walks++, egress.scrubValue(value)) };
    // Ten sessions whose connections received the same list from the same server version.
    const views = Array.from({ length: 10 }, () =>
      aggregate(counting, [
        source(
          'sv',
          internList('sv', 'tools', tools('Reads with shared-view-secret-0123.')) as ReturnType<typeof tools>,
        ),
      ]),
    );
    expect(new Set(views).size).toBe(1);
    expect(walks).toBe(2); // one walk per tool definition, for all ten sessions
    expect(views[0]!.tools.get('sv__read')?.item.description).toBe('Reads with [REDACTED].');
  });
});
