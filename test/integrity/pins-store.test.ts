// PinStore on a real state.db in a temp dir, opened twice (as two gateway processes or a gateway and the
// CLI would): first sight per pinning mode, changes, quarantine, decisions bound to the hash a reviewer
// saw, and the field-level diff reviewers read.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { definitionDiff } from '../../src/integrity/diff.js';
import { PinStore, type Observation, type ServerPinning } from '../../src/integrity/pins.js';
import { isWardenError } from '../../src/errors.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const TOFU: ServerPinning = { mode: 'trust-on-first-use', quarantineFlagged: false };
const tofu = () => TOFU;

function seen(hash: string, extra: Partial<Observation> = {}): Observation {
  return {
    server: 'fx',
    kind: 'tool',
    name: 'echo',
    exposed: 'fx__echo',
    hash,
    definition: { name: 'echo', description: `v ${hash}` },
    flags: [],
    ...extra,
  };
}

describe('PinStore', () => {
  let dir: TempDir;
  let file: string;
  let gateway: PinStore;
  let other: PinStore;

  beforeEach(async () => {
    dir = await makeTempDir('warden-pins');
    file = join(dir.path, 'state.db');
    gateway = PinStore.open(file);
    other = PinStore.open(file);
  });
  afterEach(async () => {
    gateway.close();
    other.close();
    await dir.cleanup();
  });

  it('trust on first use pins; the same definition again records nothing', () => {
    const events = gateway.observe([seen('sha256:a')], tofu, 1);
    expect(events.map((e) => e.type)).toEqual(['tool.pin']);
    expect(events[0]!.data).toMatchObject({
      kind: 'tool',
      name: 'echo',
      exposed: 'fx__echo',
      hash: 'sha256:a',
      previousHash: null,
      flags: [],
    });
    expect(other.observe([seen('sha256:a')], tofu, 2)).toEqual([]);
    expect(other.get({ server: 'fx', kind: 'tool', name: 'echo' })).toMatchObject({
      status: 'pinned',
      pinnedHash: 'sha256:a',
      currentHash: 'sha256:a',
      firstSeenAt: 1,
      updatedAt: 1,
    });
  });

  it('a changed definition is quarantined once, with both hashes, whichever process sees it', () => {
    gateway.observe([seen('sha256:a')], tofu, 1);
    const events = gateway.observe([seen('sha256:b')], tofu, 2);
    expect(events.map((e) => e.type)).toEqual(['tool.change', 'tool.quarantine']);
    expect(events[0]!.data).toMatchObject({ previousHash: 'sha256:a', hash: 'sha256:b', status: 'quarantined' });
    expect(events[1]!.data).toMatchObject({ previousHash: 'sha256:a', hash: 'sha256:b' });
    expect(other.observe([seen('sha256:b')], tofu, 3)).toEqual([]);
    const row = other.find('fx__echo');
    expect(row).toHaveLength(1);
    expect(row[0]).toMatchObject({
      status: 'quarantined',
      pinnedHash: 'sha256:a',
      currentHash: 'sha256:b',
      pinnedDefinition: { description: 'v sha256:a' },
      currentDefinition: { description: 'v sha256:b' },
    });
  });

  it('a quarantine is lifted only by a person, not by the server going back', () => {
    gateway.observe([seen('sha256:a')], tofu, 1);
    gateway.observe([seen('sha256:b')], tofu, 2);
    expect(gateway.observe([seen('sha256:a')], tofu, 3)).toEqual([]);
    expect(gateway.get(seen('x'))).toMatchObject({ status: 'quarantined', currentHash: 'sha256:b' });
    const approved = other.approve({ server: 'fx', kind: 'tool', name: 'echo' }, 'alice@host', 4, 'sha256:b');
    expect(approved).toMatchObject({
      status: 'pinned',
      pinnedHash: 'sha256:b',
      currentHash: 'sha256:b',
      decidedBy: 'alice@host',
      decidedAt: 4,
    });
    expect(gateway.observe([seen('sha256:b')], tofu, 5)).toEqual([]);
  });

  it('approve refuses a definition that changed under the reviewer, an unknown name, and one already pinned', () => {
    gateway.observe([seen('sha256:a')], tofu, 1);
    gateway.observe([seen('sha256:b')], tofu, 2);
    const key = { server: 'fx', kind: 'tool' as const, name: 'echo' };
    gateway.observe([seen('sha256:c')], tofu, 3); // changed again after the reviewer looked at b
    expect(() => other.approve(key, 'alice', 4, 'sha256:b')).toThrow(
      expect.objectContaining({ code: 'ERR_PIN_CHANGED' }),
    );
    expect(other.get(key)).toMatchObject({ status: 'quarantined', pinnedHash: 'sha256:a' });
    expect(() => other.approve({ ...key, name: 'nope' }, 'alice', 4)).toThrow(
      expect.objectContaining({ code: 'ERR_PIN_NOT_FOUND' }),
    );
    other.approve(key, 'alice', 5, 'sha256:c');
    let error: unknown;
    try {
      other.approve(key, 'alice', 6);
    } catch (caught) {
      error = caught;
    }
    expect(isWardenError(error, 'ERR_PIN_NOTHING_TO_APPROVE')).toBe(true);
  });

  it('reject hides until the definition changes; back to the pinned one is pinned again', () => {
    gateway.observe([seen('sha256:a')], tofu, 1);
    gateway.observe([seen('sha256:b')], tofu, 2);
    const key = { server: 'fx', kind: 'tool' as const, name: 'echo' };
    expect(other.reject(key, 'bob', 3, 'sha256:b')).toMatchObject({
      status: 'rejected',
      pinnedHash: 'sha256:a',
      decidedBy: 'bob',
    });
    expect(() => other.reject(key, 'bob', 4)).toThrow(expect.objectContaining({ code: 'ERR_PIN_NOTHING_TO_REJECT' }));
    expect(gateway.observe([seen('sha256:b')], tofu, 5)).toEqual([]);
    expect(gateway.observe([seen('sha256:a')], tofu, 6).map((e) => [e.type, e.data?.status])).toEqual([
      ['tool.change', 'pinned'],
    ]);
    gateway.reject(key, 'bob', 7);
    expect(gateway.observe([seen('sha256:d')], tofu, 8).map((e) => e.type)).toEqual(['tool.change', 'tool.quarantine']);
  });

  it('require-approval leaves new definitions pending until approved, and pending stays pending when it changes', () => {
    const strict = (): ServerPinning => ({ mode: 'require-approval', quarantineFlagged: false });
    const events = gateway.observe([seen('sha256:a')], strict, 1);
    expect(events.map((e) => [e.type, e.data?.status])).toEqual([['tool.quarantine', 'pending']]);
    expect(gateway.observe([seen('sha256:b')], strict, 2).map((e) => [e.type, e.data?.status])).toEqual([
      ['tool.change', 'pending'],
    ]);
    expect(gateway.get(seen('x'))).toMatchObject({ status: 'pending', currentHash: 'sha256:b' });
    expect(gateway.get(seen('x'))?.pinnedHash).toBeUndefined();
    expect(other.approve(seen('x'), 'carol', 3)).toMatchObject({ status: 'pinned', pinnedHash: 'sha256:b' });
  });

  it('quarantineFlagged quarantines a flagged definition on first sight; off records nothing', () => {
    const flagged = (): ServerPinning => ({ mode: 'trust-on-first-use', quarantineFlagged: true });
    const events = gateway.observe(
      [seen('sha256:a', { flags: ['important-block'] }), seen('sha256:z', { name: 'plain', exposed: 'fx__plain' })],
      flagged,
      1,
    );
    expect(events.map((e) => [e.type, e.target, e.data?.flags])).toEqual([
      ['tool.quarantine', 'fx__echo', ['important-block']],
      ['tool.pin', 'fx__plain', []],
    ]);
    expect(gateway.get(seen('x'))).toMatchObject({ status: 'quarantined', flags: ['important-block'] });
    expect(
      gateway.observe([seen('sha256:q', { server: 'loose' })], () => ({ mode: 'off', quarantineFlagged: false }), 2),
    ).toEqual([]);
    expect(gateway.list({ server: 'loose' })).toEqual([]);
  });

  it('list filters by status and server and pages; find takes the exposed name or server/name, tools and prompts', () => {
    gateway.observe(
      [
        seen('sha256:1'),
        seen('sha256:2', { name: 'echo', kind: 'prompt' }),
        seen('sha256:3', { server: 'gh', name: 'search', exposed: 'gh__search' }),
      ],
      tofu,
      1,
    );
    gateway.observe([seen('sha256:4', { server: 'gh', name: 'search', exposed: 'gh__search' })], tofu, 2);
    expect(other.list().map((r) => `${r.server}/${r.kind}/${r.name}`)).toEqual([
      'fx/tool/echo',
      'fx/prompt/echo',
      'gh/tool/search',
    ]);
    expect(other.list({ status: 'quarantined' }).map((r) => r.exposed)).toEqual(['gh__search']);
    expect(other.list({ server: 'fx', limit: 1, offset: 1 }).map((r) => r.kind)).toEqual(['prompt']);
    expect(other.find('fx__echo').map((r) => r.kind)).toEqual(['tool', 'prompt']);
    expect(other.find('gh/search').map((r) => r.exposed)).toEqual(['gh__search']);
    expect(other.find('gh__nothing')).toEqual([]);
  });

  it('a read-only store reads what the gateway wrote and cannot decide', () => {
    gateway.observe([seen('sha256:a')], tofu, 1);
    gateway.observe([seen('sha256:b')], tofu, 2);
    const readonly = PinStore.open(file, { readonly: true });
    try {
      expect(readonly.find('fx__echo')[0]?.status).toBe('quarantined');
      expect(() => readonly.approve(seen('x'), 'alice', 3)).toThrow(/readonly/i);
    } finally {
      readonly.close();
    }
  });

  it('dataVersion moves when another connection commits', () => {
    const before = gateway.dataVersion();
    other.observe([seen('sha256:a')], tofu, 1);
    expect(gateway.dataVersion()).not.toBe(before);
  });
});

describe('definitionDiff', () => {
  it.each([
    [
      'a changed description',
      { description: 'Echoes' },
      { description: 'Echoes <IMPORTANT>' },
      [{ path: 'description', before: '"Echoes"', after: '"Echoes <IMPORTANT>"' }],
    ],
    [
      'an added schema property and a changed required list',
      { inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
      {
        inputSchema: {
          type: 'object',
          properties: { text: { type: 'string' }, path: { type: 'string' } },
          required: ['text', 'path'],
        },
      },
      [
        { path: 'inputSchema.properties.path.type', after: '"string"' },
        { path: 'inputSchema.required[1]', after: '"path"' },
      ],
    ],
    ['a removed field', { title: 'T', name: 'x' }, { name: 'x' }, [{ path: 'title', before: '"T"' }]],
    [
      'a type change of a value',
      { annotations: { readOnlyHint: true } },
      { annotations: { readOnlyHint: 'yes' } },
      [{ path: 'annotations.readOnlyHint', before: 'true', after: '"yes"' }],
    ],
    [
      'keys that are not identifiers',
      { properties: { 'a b': 1 } },
      { properties: { 'a b': 2 } },
      [{ path: 'properties["a b"]', before: '1', after: '2' }],
    ],
    [
      'nothing pinned yet: the whole definition is new',
      undefined,
      { name: 'x', inputSchema: {} },
      [
        { path: 'inputSchema', after: '{}' },
        { path: 'name', after: '"x"' },
      ],
    ],
    ['no change', { name: 'x', d: [1, 2] }, { d: [1, 2], name: 'x' }, []],
  ])('%s', (_name, before, after, expected) => {
    expect(definitionDiff(before, after)).toEqual(expected);
  });

  it('shows hidden characters as escapes instead of passing them on', () => {
    const [entry] = definitionDiff({ description: 'ok' }, { description: 'ok\u001b[2K\u202e\u200b\u{e0041}' });
    expect(entry!.after).toBe('"ok\\u001b[2K\\u{202e}\\u{200b}\\u{e0041}"');
    expect(entry!.after).not.toMatch(/[\u001b\u202e\u200b]/u); // eslint-disable-line no-control-regex
  });
});
