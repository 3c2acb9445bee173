// Messages from servers to the agent, through the real gateway: sampling, elicitation and roots requests
// answered by the agent's own handlers, progress with the agent's own token (every notification before the
// result), and tools/list_changed. Each runs over HTTP and stdio ingress, against a stdio downstream (fx)
// and a Streamable HTTP downstream (web).
import type { Client, ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  type CreateMessageRequest,
  type ElicitRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, progressFor, recordNotifications, textOf, type Recorded } from '../helpers/agent.js';
import {
  connectHttp,
  connectStdio,
  fixtureServer,
  startFixtureHttp,
  startGateway,
  type RunningGateway,
} from '../helpers/gateway.js';
import { waitFor, type ReadyProcess } from '../helpers/process.js';

const OPTIONS: ClientOptions = {
  capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } },
};
const ROOTS = [{ uri: 'file:///work/project', name: 'project' }];

interface Agent {
  client: Client;
  seen: Recorded[];
  sampled: CreateMessageRequest['params'][];
  elicited: ElicitRequest['params'][];
}

/** Sets the agent's handlers for the three server→client requests, as a real host would. */
function equip(client: Client): Agent {
  const agent: Agent = { client, seen: recordNotifications(client), sampled: [], elicited: [] };
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    agent.sampled.push(request.params);
    const content = request.params.messages[0]?.content;
    const prompt = content && 'text' in content ? content.text : '?';
    return { model: 'test-model', role: 'assistant', content: { type: 'text', text: `echo ${prompt}` } };
  });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    agent.elicited.push(request.params);
    return { action: 'accept', content: { username: 'ann', email: 'ann@example.test' } };
  });
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: ROOTS }));
  return agent;
}

let web: ReadyProcess;
let gateway: RunningGateway;
const agents: Record<'http' | 'stdio', Agent> = {} as never;

beforeAll(async () => {
  web = await startFixtureHttp({ FIXTURE_SCHEME: 'web' });
  gateway = await startGateway({ servers: { fx: fixtureServer(), web: { transport: 'http', url: web.url } } });
  const [http, stdio] = await Promise.all([
    connectHttp(gateway.url, OPTIONS),
    connectStdio(gateway.configFile, OPTIONS),
  ]);
  agents.http = equip(http.client);
  agents.stdio = equip(stdio.client);
});

afterAll(async () => {
  await Promise.all([agents.http?.client.close(), agents.stdio?.client.close()]);
  await gateway?.stop();
  await web?.stop();
});

const CASES = [
  ['http', 'fx'],
  ['http', 'web'],
  ['stdio', 'fx'],
  ['stdio', 'web'],
] as const;

describe.each(CASES)('%s ingress, %s downstream', (ingress, prefix) => {
  it('relays sampling/createMessage to the agent and its answer back', async () => {
    const agent = agents[ingress];
    const prompt = `sample-${ingress}-${prefix}`;
    const result = await call(agent.client, `${prefix}__test_sampling`, { prompt });
    expect(textOf(result)).toBe(`LLM response: echo ${prompt}`);
    expect(agent.sampled.at(-1)).toEqual(
      expect.objectContaining({
        maxTokens: 100,
        messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
      }),
    );
  });

  it('relays elicitation/create to the agent and its answer back', async () => {
    const agent = agents[ingress];
    const message = `who-${ingress}-${prefix}`;
    const result = await call(agent.client, `${prefix}__test_elicitation`, { message });
    expect(textOf(result)).toBe('User response: action=accept, content={"username":"ann","email":"ann@example.test"}');
    expect(agent.elicited.at(-1)).toEqual(
      expect.objectContaining({
        message,
        requestedSchema: expect.objectContaining({ required: ['username', 'email'] }),
      }),
    );
  });

  it('relays roots/list to the agent and its roots back', async () => {
    const result = await call(agents[ingress].client, `${prefix}__fixture_roots`);
    expect(result.structuredContent).toEqual({ roots: ROOTS });
  });

  it('relays all 50 progress notifications with the agent token, in order, before the result', async () => {
    const agent = agents[ingress];
    const token = `agent-${ingress}-${prefix}`;
    const result = await agent.client.callTool({
      name: `${prefix}__fixture_progress`,
      arguments: { steps: 50 },
      _meta: { progressToken: token },
    });
    // Counted the moment the result is in: a notification sent after the result would be missing here.
    const progress = progressFor(agent.seen, token).map((n) => n.params?.progress);
    expect(textOf(result)).toBe('sent 50 progress notifications');
    expect(progress).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(
      agent.seen.filter(
        (n) =>
          n.method === 'notifications/progress' &&
          typeof n.params?.progressToken === 'string' &&
          n.params.progressToken.startsWith('warden-'),
      ),
    ).toEqual([]);
  });

  it('sends no progress when the agent asked for none', async () => {
    const result = await call(agents[ingress].client, `${prefix}__fixture_progress`, { steps: 3 });
    expect(textOf(result)).toBe('sent 0 progress notifications');
  });

  it('re-lists after tools/list_changed, tells the agent, and routes the new tool', async () => {
    const agent = agents[ingress];
    const name = `late_${ingress}_${prefix}`;
    const changes = () => agent.seen.filter((n) => n.method === 'notifications/tools/list_changed').length;
    const before = changes();
    expect((await agent.client.listTools()).tools.map((t) => t.name)).not.toContain(`${prefix}__${name}`);

    await call(agent.client, `${prefix}__fixture_add_tool`, { name });
    await waitFor(() => changes() > before, 'notifications/tools/list_changed');
    const tools = (await agent.client.listTools()).tools.map((t) => t.name);
    expect(tools).toContain(`${prefix}__${name}`);
    expect(textOf(await call(agent.client, `${prefix}__${name}`))).toBe(`added tool ${name}`);
  });
});

describe('an agent that declares no client capabilities', () => {
  it('is not offered to servers as a sampling client', async () => {
    const { client } = await connectHttp(gateway.url);
    try {
      const result = await call(client, 'fx__test_sampling', { prompt: 'x' });
      expect(result).toEqual({ isError: true, content: [{ type: 'text', text: 'Client does not support sampling' }] });
    } finally {
      await client.close();
    }
  });
});
