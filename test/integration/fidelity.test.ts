// Forwarding fidelity: the real gateway process in front of the conformance fixture over real stdio (fx),
// real Streamable HTTP to a fixture the test started (web) and an HTTP fixture the gateway launches (up).
// What the agent sees through the gateway must be what the fixture says, renamed `<prefix>__<name>`.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ErrorCode, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, recordNotifications, textOf, type Recorded } from '../helpers/agent.js';
import {
  connectHttp,
  connectStdio,
  fixtureServer,
  launchedFixtureServer,
  startFixtureHttp,
  startGateway,
  writeConfig,
  type RunningGateway,
} from '../helpers/gateway.js';
import { waitFor, type ReadyProcess } from '../helpers/process.js';

/** prefix → the URI scheme its fixture serves resources under. */
const SCHEMES = { fx: 'test', web: 'web', up: 'up' } as const;
const PREFIXES = Object.keys(SCHEMES) as (keyof typeof SCHEMES)[];

let web: ReadyProcess;
let gateway: RunningGateway;
let agent: Client;
let seen: Recorded[];
let direct: Client;

beforeAll(async () => {
  web = await startFixtureHttp({ FIXTURE_SCHEME: 'web' });
  gateway = await startGateway({
    servers: {
      fx: fixtureServer(),
      web: { transport: 'http', url: web.url },
      up: launchedFixtureServer({}, { FIXTURE_SCHEME: 'up' }),
    },
  });
  ({ client: agent } = await connectHttp(gateway.url));
  seen = recordNotifications(agent);
  ({ client: direct } = await connectHttp(web.url!));
});

afterAll(async () => {
  await agent?.close();
  await direct?.close();
  await gateway?.stop();
  await web?.stop();
});

/** The client prefixes `MCP error <code>: ` exactly once; the gateway must not add a second prefix. */
function mcpError(code: number, message: RegExp) {
  return expect.objectContaining({
    code,
    message: expect.stringMatching(new RegExp(`^MCP error ${code}: (?!MCP error)${message.source.replace(/^\^/, '')}`)),
  });
}

describe('tools', () => {
  it('lists every server tool once, namespaced, with the definition otherwise unchanged', async () => {
    const { tools } = await agent.listTools();
    const { tools: original } = await direct.listTools();
    expect(original.length).toBeGreaterThan(10);
    for (const prefix of PREFIXES) {
      const mine = tools.filter((tool) => tool.name.startsWith(`${prefix}__`));
      const renamed = original.map((tool: Tool) => ({ ...tool, name: `${prefix}__${tool.name}` }));
      expect(mine).toEqual(renamed);
    }
    expect(tools).toHaveLength(original.length * PREFIXES.length);
  });

  it.each(PREFIXES)('calls %s tools with results exactly as the server gave them', async (prefix) => {
    expect(textOf(await call(agent, `${prefix}__test_simple_text`))).toBe(
      'This is a simple text response for testing.',
    );
    const mixed = await call(agent, `${prefix}__test_multiple_content_types`);
    expect(mixed).toEqual(await direct.callTool({ name: 'test_multiple_content_types', arguments: {} }));
    const structured = await call(agent, `${prefix}__json_schema_2020_12_tool`, { name: 'n', address: { city: 'c' } });
    expect(textOf(structured)).toBe('Received: {"name":"n","address":{"city":"c"}}');
  });

  it.each(PREFIXES)('keeps a %s tool error a result (isError), not a protocol error', async (prefix) => {
    const result = await call(agent, `${prefix}__test_error_handling`);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('This tool intentionally returns an error for testing');
  });

  it('answers an unknown or un-prefixed tool name with Unknown tool, and passes a server error on', async () => {
    await expect(call(agent, 'test_simple_text')).rejects.toEqual(
      mcpError(ErrorCode.InvalidParams, /^Unknown tool: test_simple_text$/),
    );
    await expect(call(agent, 'nope__test_simple_text')).rejects.toEqual(
      mcpError(ErrorCode.InvalidParams, /Unknown tool/),
    );
    // A server's own JSON-RPC error reaches the agent with the code and text it would see directly.
    const directError = await direct
      .callTool({ name: 'fixture_sleep', arguments: { ms: 'soon' } })
      .catch((error: unknown) => error);
    expect(directError).toEqual(
      expect.objectContaining({
        code: ErrorCode.InvalidParams,
        message: expect.stringContaining('Invalid arguments for fixture_sleep'),
      }),
    );
    for (const prefix of PREFIXES) {
      const viaGateway = await call(agent, `${prefix}__fixture_sleep`, { ms: 'soon' }).catch((error: unknown) => error);
      expect(viaGateway).toEqual(
        expect.objectContaining({ code: ErrorCode.InvalidParams, message: (directError as McpError).message }),
      );
    }
  });
});

describe('resources', () => {
  it('lists resources and templates of every server, routes reads to the owner', async () => {
    const { resources } = await agent.listResources();
    const { resourceTemplates } = await agent.listResourceTemplates();
    for (const scheme of Object.values(SCHEMES)) {
      expect(resources.map((r) => r.uri)).toEqual(
        expect.arrayContaining([
          `${scheme}://static-text`,
          `${scheme}://static-binary`,
          `${scheme}://watched-resource`,
        ]),
      );
      expect(resourceTemplates.map((t) => t.uriTemplate)).toContain(`${scheme}://template/{id}/data`);
    }
    expect(resources).toHaveLength(9);
    expect(resources.find((r) => r.uri === 'web://static-text')).toEqual(
      (await direct.listResources()).resources.find((r) => r.uri === 'web://static-text'),
    );

    const binary = await agent.readResource({ uri: 'up://static-binary' });
    expect(binary.contents[0]).toEqual(
      expect.objectContaining({
        uri: 'up://static-binary',
        mimeType: 'image/png',
        blob: expect.stringMatching(/^iVBOR/),
      }),
    );
    const text = await agent.readResource({ uri: 'web://static-text' });
    expect(text).toEqual(await direct.readResource({ uri: 'web://static-text' }));
    const templated = await agent.readResource({ uri: 'test://template/42/data' });
    expect(JSON.parse((templated.contents[0] as { text: string }).text)).toEqual({
      id: '42',
      templateTest: true,
      data: 'Data for ID: 42',
    });
    await expect(agent.readResource({ uri: 'nowhere://x' })).rejects.toEqual(mcpError(-32002, /Resource not found/));
  });

  it.each([
    ['fx', 'test'],
    ['web', 'web'],
  ])('subscribes to a %s resource, relays resources/updated, and unsubscribes', async (prefix, scheme) => {
    const uri = `${scheme}://watched-resource`;
    const updates = () =>
      seen.filter((n) => n.method === 'notifications/resources/updated' && n.params?.uri === uri).length;

    await agent.subscribeResource({ uri });
    const touched = await call(agent, `${prefix}__fixture_touch_resource`, { uri });
    expect(touched.structuredContent).toEqual({ notified: true });
    await waitFor(() => updates() === 1, `resources/updated for ${uri}`);

    await agent.unsubscribeResource({ uri });
    const after = await call(agent, `${prefix}__fixture_touch_resource`, { uri });
    expect(after.structuredContent).toEqual({ notified: false }); // the fixture itself saw the unsubscribe
    expect(updates()).toBe(1);
  });
});

describe('prompts and completions', () => {
  it('lists prompts namespaced with their arguments, and gets them from the owner', async () => {
    const { prompts } = await agent.listPrompts();
    const { prompts: original } = await direct.listPrompts();
    expect(prompts.filter((p) => p.name.startsWith('web__'))).toEqual(
      original.map((p) => ({ ...p, name: `web__${p.name}` })),
    );
    expect(prompts).toHaveLength(original.length * PREFIXES.length);

    for (const prefix of PREFIXES) {
      const got = await agent.getPrompt({
        name: `${prefix}__test_prompt_with_arguments`,
        arguments: { arg1: 'a', arg2: 'b' },
      });
      expect(got.messages).toEqual([
        { role: 'user', content: { type: 'text', text: "Prompt with arguments: arg1='a', arg2='b'" } },
      ]);
    }
    await expect(agent.getPrompt({ name: 'test_simple_prompt' })).rejects.toEqual(
      mcpError(ErrorCode.InvalidParams, /Unknown prompt/),
    );
  });

  it('completes prompt arguments and template variables through the owning server', async () => {
    const prompt = await agent.complete({
      ref: { type: 'ref/prompt', name: 'up__test_prompt_with_arguments' },
      argument: { name: 'arg1', value: 'pa' },
    });
    expect(prompt.completion.values).toEqual(['paris', 'park', 'party']);
    const template = await agent.complete({
      ref: { type: 'ref/resource', uri: 'web://template/{id}/data' },
      argument: { name: 'id', value: '1' },
    });
    expect(template.completion.values).toEqual(['1', '123']);
  });
});

describe('logging and ping', () => {
  it.each(PREFIXES)('forwards logging/setLevel to %s and relays its log messages before the result', async (prefix) => {
    const logs = () => seen.filter((n) => n.method === 'notifications/message' && n.params?.logger === 'fixture');
    const before = logs().length;
    await agent.setLoggingLevel('warning');
    await call(agent, `${prefix}__test_tool_with_logging`);
    expect(logs().length).toBe(before); // info messages are below the level the fixture was told

    await agent.setLoggingLevel('info');
    await call(agent, `${prefix}__test_tool_with_logging`);
    expect(
      logs()
        .slice(before)
        .map((n) => n.params?.data),
    ).toEqual(['Tool execution started', 'Tool processing data', 'Tool execution completed']);
  });

  it('answers ping', async () => {
    await expect(agent.ping()).resolves.toEqual({});
  });
});

describe('prefix switched off, over stdio ingress', () => {
  it('exposes names exactly as the server spells them and routes calls by them', async () => {
    const { dir, file } = await writeConfig({ servers: { plain: fixtureServer({ prefix: false }) } });
    const { client } = await connectStdio(file);
    try {
      const { tools } = await client.listTools();
      const { tools: original } = await direct.listTools();
      expect(tools).toEqual(original);
      expect(textOf(await call(client, 'test_simple_text'))).toBe('This is a simple text response for testing.');
      expect((await client.listPrompts()).prompts.map((p) => p.name)).toContain('test_simple_prompt');
      await expect(call(client, 'plain__test_simple_text')).rejects.toBeInstanceOf(McpError);
    } finally {
      await client.close();
      await dir.cleanup();
    }
  });
});
