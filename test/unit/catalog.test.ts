// aggregate(EGRESS, ) merges every server's lists into the agent's view: names are namespaced, bad names refused,
// collisions cost both sides their name (so nothing can shadow anything), and resources route to owners.
import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { aggregate, routeResource } from '../../src/gateway/catalog.js';
import { exposedName, type Catalog, type CatalogSource } from '../../src/model/catalog.js';
import { Egress } from '../../src/egress/egress.js';

/** The egress stage, as the gateway builds it (no secret known: definitions pass unchanged). */
const EGRESS = new Egress();

const tool = (name: string, extra: Partial<Tool> = {}): Tool => ({ name, inputSchema: { type: 'object' }, ...extra });
const prompt = (name: string, extra: Partial<Prompt> = {}): Prompt => ({ name, ...extra });
const resource = (uri: string, name = uri): Resource => ({ uri, name });
const template = (uriTemplate: string, name = uriTemplate): ResourceTemplate => ({ uriTemplate, name });

function source(serverId: string, catalog: Partial<Catalog>, prefix: string | false = serverId): CatalogSource {
  return { serverId, prefix, catalog: { tools: [], prompts: [], resources: [], templates: [], ...catalog } };
}

describe('exposedName', () => {
  it.each([
    ['github', 'search', 'github__search'],
    ['gh', 'search', 'gh__search'],
    [false, 'search', 'search'],
  ] as const)('prefix %s, name %s → %s', (prefix, name, expected) => {
    expect(exposedName(prefix, name)).toBe(expected);
  });
});

describe('aggregate: namespacing', () => {
  it('prefixes tools and prompts and keeps the route back to the downstream name', () => {
    const view = aggregate(EGRESS, [
      source('github', { tools: [tool('search'), tool('get_issue')], prompts: [prompt('triage')] }),
      source('files', { tools: [tool('search')] }, 'fs'),
      source('plain', { tools: [tool('echo')] }, false),
    ]);
    expect([...view.tools.keys()]).toEqual(['github__search', 'github__get_issue', 'fs__search', 'echo']);
    expect(view.tools.get('fs__search')).toMatchObject({
      server: 'files',
      downstreamName: 'search',
      item: { name: 'fs__search' },
    });
    expect(view.tools.get('echo')).toMatchObject({ server: 'plain', downstreamName: 'echo', item: { name: 'echo' } });
    expect([...view.prompts.keys()]).toEqual(['github__triage']);
    expect(view.prompts.get('github__triage')).toMatchObject({ server: 'github', downstreamName: 'triage' });
    expect(view.problems).toEqual([]);
  });

  it('keeps everything else of a definition (schemas, annotations) as the downstream sent it', () => {
    const inputSchema = { type: 'object' as const, properties: { q: { type: 'string' } }, required: ['q'] };
    const view = aggregate(EGRESS, [
      source('s', { tools: [tool('find', { inputSchema, annotations: { readOnlyHint: true } })] }),
    ]);
    expect(view.tools.get('s__find')?.item).toEqual({
      name: 's__find',
      inputSchema,
      annotations: { readOnlyHint: true },
    });
  });
});

describe('aggregate: names that are refused', () => {
  it.each([
    ['a space', 'bad name'],
    ['a slash', 'a/b'],
    ['an empty name', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a zero-width space', 'read\u200bfile'],
    ['a bidi override', 'read\u202eelif'],
    ['an ANSI escape', '\u001b[31mred'],
    ['a look-alike letter', 'reаd'], // Cyrillic а
    ['a newline', 'a\nb'],
  ])('a tool name with %s', (_what, name) => {
    const view = aggregate(EGRESS, [source('s', { tools: [tool(name), tool('fine')] })]);
    expect([...view.tools.keys()]).toEqual(['s__fine']);
    expect(view.problems).toHaveLength(1);
    expect(view.problems[0]).toMatchObject({ kind: 'invalid_name', server: 's' });
    // The report itself must not carry the control characters it refuses.
    expect(
      [...(view.problems[0]?.detail ?? '')].some(
        (c) => c.charCodeAt(0) < 0x20 || (c >= '\u007f' && c <= '\u009f') || c === '\u200b' || c === '\u202e',
      ),
    ).toBe(false);
  });

  it('a prompt name outside the pattern', () => {
    const view = aggregate(EGRESS, [source('s', { prompts: [prompt('ok'), prompt('not ok')] })]);
    expect([...view.prompts.keys()]).toEqual(['s__ok']);
    expect(view.problems).toEqual([
      expect.objectContaining({
        kind: 'invalid_name',
        server: 's',
        detail: expect.stringContaining('prompt') as unknown,
      }),
    ]);
  });

  it('a valid name that is too long once prefixed', () => {
    const name = 'x'.repeat(126);
    const view = aggregate(EGRESS, [source('s', { tools: [tool(name)] }), source('t', { tools: [tool(name)] }, false)]);
    expect([...view.tools.keys()]).toEqual([name]);
    expect(view.problems).toEqual([
      expect.objectContaining({
        kind: 'invalid_name',
        server: 's',
        detail: expect.stringContaining('longer than 128') as unknown,
      }),
    ]);
  });
});

describe('aggregate: collisions', () => {
  it.each([
    [
      'two unprefixed servers',
      [source('a', { tools: [tool('search')] }, false), source('b', { tools: [tool('search')] }, false)],
      'search',
    ],
    [
      "an unprefixed name that spells another server's prefixed one",
      [source('a', { tools: [tool('b__x')] }, false), source('b', { tools: [tool('x')] })],
      'b__x',
    ],
    [
      'two servers sharing an explicit prefix',
      [source('a', { tools: [tool('x')] }, 'p'), source('b', { tools: [tool('x')] }, 'p')],
      'p__x',
    ],
  ])('%s: both lose the name and the collision is reported', (_name, sources, name) => {
    const view = aggregate(EGRESS, sources);
    expect(view.tools.has(name)).toBe(false);
    expect(view.problems).toEqual([
      expect.objectContaining({ kind: 'collision', server: 'b', detail: expect.stringContaining(name) as unknown }),
    ]);
  });

  it('a third server cannot take a name two others already lost', () => {
    const view = aggregate(EGRESS, [
      source('a', { tools: [tool('x'), tool('only_a')] }, false),
      source('b', { tools: [tool('x')] }, false),
      source('c', { tools: [tool('x'), tool('only_c')] }, false),
    ]);
    expect([...view.tools.keys()].sort()).toEqual(['only_a', 'only_c']);
    expect(view.problems.map((p) => [p.kind, p.server])).toEqual([
      ['collision', 'b'],
      ['collision', 'c'],
    ]);
  });

  it('a duplicate within one server is a collision too', () => {
    const view = aggregate(EGRESS, [source('a', { tools: [tool('x'), tool('x')] })]);
    expect(view.tools.size).toBe(0);
    expect(view.problems).toEqual([expect.objectContaining({ kind: 'collision', server: 'a' })]);
  });

  it('prompts collide the same way, independently of tools', () => {
    const view = aggregate(EGRESS, [
      source('a', { tools: [tool('x')], prompts: [prompt('x')] }, false),
      source('b', { prompts: [prompt('x')] }, false),
    ]);
    expect([...view.tools.keys()]).toEqual(['x']);
    expect(view.prompts.size).toBe(0);
    expect(view.problems).toEqual([
      expect.objectContaining({
        kind: 'collision',
        server: 'b',
        detail: expect.stringContaining('prompt x') as unknown,
      }),
    ]);
  });

  it('a resource URI served twice stays with the first server in config order, and is reported', () => {
    const view = aggregate(EGRESS, [
      source('a', { resources: [resource('file:///x')] }),
      source('b', { resources: [resource('file:///x')] }),
    ]);
    expect(view.resources.get('file:///x')?.server).toBe('a');
    expect(view.problems).toEqual([
      expect.objectContaining({
        kind: 'shadowed_resource',
        server: 'b',
        detail: expect.stringContaining('file:///x') as unknown,
      }),
    ]);
  });
});

describe('aggregate: text from downstreams is cleaned', () => {
  it('titles, descriptions and argument descriptions lose escapes and invisible characters', () => {
    const view = aggregate(EGRESS, [
      source('s', {
        tools: [
          tool('t', {
            title: 'Ti\u202etle',
            description: 'Line 1\n\u001b[2KLine 2\u{e0041}',
            annotations: { title: 'An\u200bnotated' },
          }),
        ],
        prompts: [
          prompt('p', {
            title: 'P\u0007',
            description: 'd\u001b]0;x\u0007',
            arguments: [{ name: 'a', description: 'arg\u2066' }],
          }),
        ],
        resources: [{ uri: 'mem://r', name: 'na\u200bme', title: 'T\u0085', description: 'ok\tfine\u202e' }],
        templates: [{ uriTemplate: 'mem://{id}', name: 'tpl\u001b[0m', description: 'x\u2067' }],
      }),
    ]);
    expect(view.tools.get('s__t')?.item).toMatchObject({
      title: 'Title',
      description: 'Line 1\nLine 2',
      annotations: { title: 'Annotated' },
    });
    expect(view.prompts.get('s__p')?.item).toMatchObject({
      title: 'P',
      description: 'd',
      arguments: [{ name: 'a', description: 'arg' }],
    });
    expect(view.resources.get('mem://r')?.item).toMatchObject({ name: 'name', title: 'T', description: 'ok\tfine' });
    expect(view.templates[0]?.item).toMatchObject({ name: 'tpl', description: 'x' });
  });
});

describe('routeResource', () => {
  const view = aggregate(EGRESS, [
    source('files', { resources: [resource('file:///etc/motd')], templates: [template('file:///{+path}')] }),
    source('db', { resources: [resource('db://users/1')], templates: [template('db://{table}/{id}')] }),
    source('notes', { templates: [template('notes://{name}')] }),
  ]);

  it.each([
    ['an exact listed resource', 'file:///etc/motd', 'files'],
    ['an exact resource of a later server', 'db://users/1', 'db'],
    ['a path template', 'file:///home/ada/todo.txt', 'files'],
    ['a two-variable template', 'db://orders/42', 'db'],
    ['a one-variable template', 'notes://shopping', 'notes'],
    ['a template matched literally', 'notes://{name}', 'notes'],
    ['a URI nobody serves', 'https://evil.example/x', undefined],
    ['a scheme nobody serves', 'mem://x', undefined],
  ])('%s: %s → %s', (_name, uri, expected) => {
    expect(routeResource(view, uri)).toBe(expected);
  });

  it("an exact resource wins over an earlier server's matching template", () => {
    const overlap = aggregate(EGRESS, [
      source('a', { templates: [template('x://{id}')] }),
      source('b', { resources: [resource('x://1')] }),
    ]);
    expect(routeResource(overlap, 'x://1')).toBe('b');
    expect(routeResource(overlap, 'x://2')).toBe('a');
  });

  it('the first matching template in config order wins', () => {
    const two = aggregate(EGRESS, [
      source('a', { templates: [template('x://{id}')] }),
      source('b', { templates: [template('x://{name}')] }),
    ]);
    expect(routeResource(two, 'x://anything')).toBe('a');
  });

  it('a template that does not compile routes only its literal text', () => {
    const bad = aggregate(EGRESS, [source('a', { templates: [template('x://{unclosed')] })]);
    expect(routeResource(bad, 'x://{unclosed')).toBe('a');
    expect(routeResource(bad, 'x://other')).toBeUndefined();
  });
});
