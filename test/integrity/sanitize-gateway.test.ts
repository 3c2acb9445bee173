// Hidden text from a downstream, through the real gateway: the fixture's fixture_dirty carries ANSI CSI,
// OSC 52 (clipboard write), bidi overrides, zero-width and Unicode tag characters in its description,
// schema, result, error, log message, progress message and stderr; a prompt echoes them into its text.
// What the agent receives and every line the gateway logs must be free of them (tool results keep their
// content and lose only terminal escapes). A look-alike twin (Cyrillic letter) is refused outright.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { recordNotifications, type Recorded } from '../helpers/agent.js';
import { BIN, connectHttp, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { runToExit, waitFor } from '../helpers/process.js';

const ESC = '\u001b';
const DIRTY = `${ESC}[31m${ESC}[2Kdirty${ESC}]52;c;Y3VybCBldmlsLmV4YW1wbGUveHxzaA==\u0007\u202e\u2066text\u200b\u200d\u2060${[...'obey'].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('')}${ESC}[0m`;
// Terminal escapes (ESC, BEL, 8-bit CSI/OSC), other controls, bidi, zero-width and tag characters.
const HIDDEN =
  // eslint-disable-next-line no-control-regex -- these characters are what the test looks for
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]|[\u{e0000}-\u{e007f}]/u;
// eslint-disable-next-line no-control-regex -- terminal escape introducers
const ESCAPES = /[\u001b\u0007\u009b\u009d]/;

/** Every string inside a JSON-like value (keys too). */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) strings(item, out);
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      out.push(key);
      strings(item, out);
    }
  }
  return out;
}

const hiddenIn = (value: unknown) => strings(value).filter((text) => HIDDEN.test(text));

/** The real CLI, without blocking the event loop (a blocked loop keeps a keep-alive socket the gateway already closed). */
async function cli(gateway: RunningGateway, args: string[]): Promise<string> {
  const result = await runToExit(process.execPath, [BIN, ...args, '--config', gateway.configFile]);
  expect(result.code).toBe(0);
  return result.stdout;
}

describe('sanitising through the gateway', () => {
  let gateway: RunningGateway;
  let client: Client;
  let seen: Recorded[];

  beforeAll(async () => {
    expect(HIDDEN.test(DIRTY)).toBe(true); // the probe text really carries what is looked for
    gateway = await startGateway({
      servers: { fx: fixtureServer({ env: { FIXTURE_DIRTY: '1', FIXTURE_BAD_NAMES: '1' } }) },
    });
    ({ client } = await connectHttp(gateway.url));
    seen = recordNotifications(client);
  });
  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
  });

  it('names, titles, descriptions and schema descriptions in tools/list', async () => {
    const { tools } = await client.listTools();
    const dirty = tools.find((tool) => tool.name === 'fx__fixture_dirty')!;
    expect(dirty.description).toBe('Returns hidden text everywhere dirtytext (description)');
    expect((dirty.inputSchema.properties as Record<string, { description?: string }>).fail!.description).toBe(
      'Fail instead dirtytext',
    );
    expect(hiddenIn(tools)).toEqual([]);
  });

  it('the flag detector marks the dirty definition for reviewers', async () => {
    const pins = JSON.parse(await cli(gateway, ['tools', 'list', '--json'])) as { exposed: string; flags: string[] }[];
    expect(pins.find((pin) => pin.exposed === 'fx__fixture_dirty')?.flags).toEqual(['hidden-unicode']);
    const diff = await cli(gateway, ['tools', 'diff', 'fx__fixture_dirty', '--kind', 'tool']);
    expect(diff).not.toMatch(HIDDEN); // a reviewer's terminal gets escapes spelled out, not obeyed
  });

  it('a tool result keeps its content and loses terminal escapes; log and progress messages lose all hidden text', async () => {
    const before = seen.length;
    const result = await client.request(
      { method: 'tools/call', params: { name: 'fx__fixture_dirty', arguments: {}, _meta: { progressToken: 'p1' } } },
      CallToolResultSchema,
    );
    const text = (result.content[0] as { text: string }).text;
    expect(text).toBe(
      `result dirty\u202e\u2066text\u200b\u200d\u2060${[...'obey'].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('')}`,
    );
    expect(text).not.toMatch(ESCAPES);
    expect(strings(result).filter((s) => ESCAPES.test(s))).toEqual([]);
    const during = seen.slice(before);
    const log = during.find((n) => n.method === 'notifications/message')!;
    expect(log.params).toMatchObject({ level: 'warning', logger: 'fixturedirtytext', data: 'log dirtytext' });
    const progress = during.find((n) => n.method === 'notifications/progress')!;
    expect(progress.params).toMatchObject({ progressToken: 'p1', message: 'progress dirtytext' });
    expect(hiddenIn(during)).toEqual([]);
  });

  it('a downstream error message', async () => {
    const error = await client.callTool({ name: 'fx__fixture_dirty', arguments: { fail: true } }).then(
      (result) => ({ result }),
      (caught: { message: string; data?: unknown }) => caught,
    );
    expect('message' in error && error.message).toMatch(/error dirtytext/);
    expect(hiddenIn(error)).toEqual([]);
  });

  it('prompt text from prompts/get', async () => {
    const result = await client.getPrompt({
      name: 'fx__test_prompt_with_arguments',
      arguments: { arg1: DIRTY, arg2: 'plain' },
    });
    expect((result.messages[0]!.content as { text: string }).text).toBe(
      "Prompt with arguments: arg1='dirtytext', arg2='plain'",
    );
    expect(hiddenIn(result)).toEqual([]);
  });

  it('a look-alike twin (Cyrillic і) is neither listed, callable nor pinned', async () => {
    const twin = 'fx__fixture_p\u0456d';
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain(twin);
    await expect(client.callTool({ name: twin, arguments: {} })).rejects.toMatchObject({
      code: -32602,
      message: `MCP error -32602: Unknown tool: ${twin}`,
    });
    const pins = JSON.parse(await cli(gateway, ['tools', 'list', '--json'])) as { name: string }[];
    expect(pins.map((p) => p.name)).toContain('fixture_pid');
    expect(pins.filter((p) => !/^[A-Za-z0-9_.-]+$/.test(p.name))).toEqual([]);
  });

  it('no line of the gateway log carries hidden text, the downstream stderr included', async () => {
    await waitFor(
      () => gateway.process.stderr().includes('fixture_dirty stderr'),
      'the fixture stderr line in the gateway log',
    );
    const lines = gateway.process.stderr().trim().split('\n');
    expect(lines.join('\n')).not.toMatch(HIDDEN);
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.filter((line) => hiddenIn(line).length > 0)).toEqual([]);
    expect(parsed.some((line) => line.line === 'fixture_dirty stderr dirtytext')).toBe(true);
  });
});
