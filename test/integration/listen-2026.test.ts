// `subscriptions/listen` for MCP 2026-07-28 agents: the real gateway process (JWT, a watched policy, the
// task store, the audit) in front of the conformance fixture over stdio; the SDK v2 client's listen(),
// and raw listen streams read event by event. Each test waits on the notification it expects; the
// absence of one is shown by the next expected one arriving with nothing unexpected before it.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync } from '../helpers/cli.js';
import { makeTestClock, type TestClock } from '../helpers/clock.js';
import { ROOT, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { isNotification, openListen, type ListenMessage, type ListenStream } from '../helpers/listen-2026.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { rawRequest } from '../helpers/raw-http.js';
import { V, connectV2, envelope, post2026, request2026, rpcOf } from '../helpers/stateless-2026.js';
import { auditEvents, auditRecords, issueTokenInProcess } from '../helpers/stores.js';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: tools, effect: allow, tools: ["fx__*", "warden__*"] }
      - { id: read, effect: allow, resources: ["test://watched-resource", "test://static-text"] }
      - { id: prompts, effect: allow, prompts: ["fx__*"] }
`;
const SUBSCRIBE_SUB = 'agent:listen-subscribe';
const CONFORMANCE_2026 = join(ROOT, 'dist/test/fixtures/conformance-2026-server.js');

const TOOLS_CHANGED = 'notifications/tools/list_changed';
const UPDATED = 'notifications/resources/updated';
const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';

async function startListenGateway(
  dir: TempDir,
  env: Record<string, string> = {},
): Promise<{ gw: RunningGateway; policyFile: string }> {
  const policyFile = join(dir.path, 'policy.yaml');
  await writeFile(policyFile, POLICY);
  const gw = await startGateway(
    {
      auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {}, maxTokenLifetimeSeconds: 3600 },
      policy: { files: [policyFile], watch: true },
      servers: { fx: fixtureServer() },
    },
    [],
    env,
  );
  return { gw, policyFile };
}

const toolNames = async (gw: RunningGateway, token: string): Promise<string[]> =>
  ((rpcOf(await request2026(gw, token, 'tools/list', {})).result?.tools as { name: string }[]) ?? []).map(
    (t) => t.name,
  );

const call = (gw: RunningGateway, token: string, name: string, args: Record<string, unknown>) =>
  request2026(gw, token, 'tools/call', { name, arguments: args }, name).then(rpcOf);

describe('MCP 2026-07-28 agents: subscriptions/listen', () => {
  let dir: TempDir;
  let clock: TestClock;
  let gw: RunningGateway;
  let policyFile: string;
  const streams: ListenStream[] = [];
  const issue = (subject: string, extra: { ttlSeconds?: number } = {}) =>
    issueTokenInProcess(gw.configFile, { subject, ...extra });
  const listen = async (...args: Parameters<typeof openListen> extends [unknown, ...infer R] ? R : never) => {
    const stream = await openListen(gw, ...args);
    streams.push(stream);
    return stream;
  };
  const reloads = () => gw.process.stderr().split('policy reloaded').length - 1;
  /** Writes the policy and waits until the gateway has reloaded it. */
  const reloadPolicy = async (text: string) => {
    const before = reloads();
    await writeFile(policyFile, text);
    await waitFor(() => reloads() > before, 'the policy reload');
  };

  beforeAll(async () => {
    dir = await makeTempDir('warden-listen');
    clock = await makeTestClock();
    ({ gw, policyFile } = await startListenGateway(dir, clock.env));
  });

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await gw?.stop();
    await clock?.cleanup();
    await dir?.cleanup();
  });

  it('the SDK v2 client listens: discover offers it, the ack names what is honored, a server list_changed arrives', async () => {
    const client = await connectV2(gw, await issue('agent:listen-sdk'), 'v2-listener');
    try {
      expect(client.getServerCapabilities()).toMatchObject({
        tools: { listChanged: true },
        prompts: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
      });
      const changed = new Promise<void>((resolve) =>
        client.setNotificationHandler('notifications/tools/list_changed', () => resolve()),
      );
      const subscription = await client.listen({ toolsListChanged: true, promptsListChanged: true });
      expect(subscription.honoredFilter).toEqual({ toolsListChanged: true, promptsListChanged: true });
      // The fixture adds a tool to this principal's connection and says its list changed.
      await client.callTool({ name: 'fx__fixture_add_tool', arguments: { name: 'added_by_listen' } });
      await changed;
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('fx__added_by_listen');
      await subscription.close();
      expect(await subscription.closed).toBe('local');
    } finally {
      await client.close();
    }
  });

  it('a policy reload that changes what this principal sees sends list_changed once; one that does not sends nothing', async () => {
    const token = await issue('agent:listen-reload');
    const stream = await listen(token, {
      toolsListChanged: true,
      promptsListChanged: true,
      resourcesListChanged: true,
    });
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    expect(stream.messages[0] ?? (await stream.next(() => true, 'the ack'))).toMatchObject({
      method: 'notifications/subscriptions/acknowledged',
      params: {
        notifications: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true },
        _meta: { [SUBSCRIPTION_ID]: 'listen-1' },
      },
    });
    expect(await toolNames(gw, token)).toContain('fx__test_simple_text');

    await reloadPolicy(`${POLICY}grants:\n  - { id: hide-simple, effect: deny, tools: [fx__test_simple_text] }\n`);
    const first = await stream.next(isNotification(TOOLS_CHANGED), 'tools/list_changed after the reload');
    expect(first.params?._meta).toEqual({ [SUBSCRIPTION_ID]: 'listen-1' });
    expect(await toolNames(gw, token)).not.toContain('fx__test_simple_text');

    // A reload that changes nothing this principal sees (a grant for another agent), then one that does.
    await reloadPolicy(
      `${POLICY}  - id: someone-else\n    match: { subject: "agent:nobody" }\n    grants:\n      - { id: other, effect: deny, tools: [fx__test_image_content] }\ngrants:\n  - { id: hide-simple, effect: deny, tools: [fx__test_simple_text] }\n`,
    );
    await reloadPolicy(POLICY);
    const second = await stream.next(
      (m) => m.method === TOOLS_CHANGED && m !== first,
      'tools/list_changed after the restoring reload',
    );
    expect(second).toBeDefined();
    expect(await toolNames(gw, token)).toContain('fx__test_simple_text');
    const changes = stream.messages.filter((m) => m.method !== 'notifications/subscriptions/acknowledged');
    expect(changes.map((m) => m.method)).toEqual([TOOLS_CHANGED, TOOLS_CHANGED]);
  });

  it('resources/updated reaches a listener only for URIs it asked for and may read; the subscriptions are recorded', async () => {
    const token = await issue(SUBSCRIBE_SUB);
    const asked = ['test://watched-resource', 'test://static-text', 'test://static-binary', 'test://no-such'];
    const stream = await listen(token, { resourceSubscriptions: asked });
    const ack = await stream.next(() => true, 'the ack');
    // hidden (static-binary) and unknown (no-such) read the same: left out of what is honored
    expect(ack.params?.notifications).toEqual({
      resourceSubscriptions: ['test://watched-resource', 'test://static-text'],
    });
    const touch = async (uri: string) =>
      (await call(gw, token, 'fx__fixture_touch_resource', { uri })).result?.structuredContent as {
        notified: boolean;
      };
    // A refused subscription never reached the server.
    expect(await touch('test://static-binary')).toEqual({ notified: false });
    expect(await touch('test://watched-resource')).toEqual({ notified: true });
    const first = await stream.next(isNotification(UPDATED), 'the first resources/updated');
    expect(first.params).toEqual({ uri: 'test://watched-resource', _meta: { [SUBSCRIPTION_ID]: 'listen-1' } });

    // Read permission withdrawn by a reload: the server still says static-text changed; the listener is not told.
    await reloadPolicy(`${POLICY}grants:\n  - { id: no-static, effect: deny, resources: [test://static-text] }\n`);
    expect(await touch('test://static-text')).toEqual({ notified: true });
    expect(await touch('test://watched-resource')).toEqual({ notified: true });
    await stream.next((m) => m.method === UPDATED && m !== first, 'the second resources/updated');
    expect(stream.messages.filter(isNotification(UPDATED)).map((m) => m.params?.uri)).toEqual([
      'test://watched-resource',
      'test://watched-resource',
    ]);
    await reloadPolicy(POLICY);

    const subscribes = auditRecords(gw.configFile, { agent: SUBSCRIBE_SUB, limit: 50 }).filter(
      (r) => r.method === 'resources/subscribe',
    );
    expect(Object.fromEntries(subscribes.map((r) => [r.target, r.decision]))).toEqual({
      'test://watched-resource': 'allow',
      'test://static-text': 'allow',
      'test://static-binary': 'deny',
      'test://no-such': 'deny',
    });
    const [opened] = auditEvents(gw.configFile, { type: 'listen.open', agent: SUBSCRIBE_SUB });
    expect(opened).toMatchObject({
      subject: SUBSCRIBE_SUB,
      data: {
        ingress: 'http',
        protocolVersion: V,
        jsonrpcId: 'listen-1',
        clientInfo: { name: 'raw-2026', version: '1', verified: false },
        honored: { resourceSubscriptions: ['test://watched-resource', 'test://static-text'] },
      },
    });
    // The agent closing the stream ends it (recorded), and its subscriptions are released.
    stream.close();
    await waitFor(
      () => auditEvents(gw.configFile, { type: 'listen.end', agent: SUBSCRIBE_SUB }).length > 0,
      'the listen.end event',
    );
    expect(auditEvents(gw.configFile, { type: 'listen.end', agent: SUBSCRIBE_SUB })[0]).toMatchObject({
      data: { reason: 'closed by the agent' },
    });
    await waitFor(async () => (await touch('test://watched-resource')).notified === false, 'the unsubscribe');
  });

  it('a revocation ends the stream with an error saying why; the revoked token cannot listen again', async () => {
    const subject = 'agent:listen-revoked';
    const token = await issue(subject);
    const stream = await listen(token, { toolsListChanged: true });
    await stream.next(() => true, 'the ack');
    expect((await runCliAsync(gw.configFile, ['agent', 'revoke', subject, '--reason', 'listen test'])).code).toBe(0);
    const end = await stream.next((m) => m.error !== undefined, 'the closing error');
    expect(end).toMatchObject({
      id: 'listen-1',
      error: { code: -32000, message: 'Forbidden: the credential, its agent or its task was revoked' },
    });
    await stream.ended;
    const again = await listen(token, { toolsListChanged: true });
    expect(again.contentType).toMatch(/^application\/json/);
    await again.ended;
    expect(again.messages[0]).toMatchObject({ id: 'listen-1', error: { code: -32000 } });
    // the end is recorded after it is sent: wait for the record, not for a moment
    const [ended] = await waitFor(() => {
      const events = auditEvents(gw.configFile, { type: 'listen.end', agent: subject });
      return events.length > 0 ? events : undefined;
    }, 'the listen.end record');
    expect(String((ended?.data as { reason: string }).reason)).toMatch(/revoked/);
    expect(auditEvents(gw.configFile, { type: 'listen.refuse', agent: subject })).toHaveLength(1);
  });

  it('a stream inside a task handle ends when the task is revoked', async () => {
    const subject = 'agent:listen-task';
    const token = await issue(subject);
    const begun = await call(gw, token, 'warden__begin_task', { purpose: 'listen', tools: ['fx__test_simple_text'] });
    const handle = (begun.result?.structuredContent as { handle: { warden: { task: string } } }).handle.warden.task;
    const stream = await listen(token, { toolsListChanged: true }, { meta: { warden: { task: handle } } });
    await stream.next(() => true, 'the ack');
    expect((await runCliAsync(gw.configFile, ['task', 'revoke', handle])).code).toBe(0);
    const end = await stream.next((m) => m.error !== undefined, 'the closing error');
    expect(end.error).toMatchObject({ code: -32000, message: expect.stringContaining(handle) });
  });

  it.each([
    ['no notifications', {}],
    ['a flag that is not a boolean', { notifications: { toolsListChanged: 'yes' } }],
    ['resourceSubscriptions that is not an array', { notifications: { resourceSubscriptions: 'test://x' } }],
    ['an empty URI', { notifications: { resourceSubscriptions: [''] } }],
  ])('bad params (%s) → -32602, no stream', async (_name, params) => {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 3,
      method: 'subscriptions/listen',
      params: { ...params, _meta: envelope() },
    });
    const res = await post2026(gw, await issue('agent:listen-bad'), body, { 'mcp-method': 'subscriptions/listen' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(rpcOf(res)).toMatchObject({ id: 3, error: { code: -32602 } });
  });

  it('GET and DELETE stay 405 for 2026 requests', async () => {
    const token = await issue('agent:listen-get');
    for (const method of ['GET', 'DELETE']) {
      const res = await rawRequest(gw.origin, {
        method,
        headers: { authorization: `Bearer ${token}`, 'mcp-protocol-version': V, accept: 'text/event-stream' },
      });
      expect(res.status).toBe(405);
    }
  });

  // Last: it moves the gateway's clock and stops the gateway (the clock moves nothing else here).
  describe('how a listen stream ends without an event', () => {
    it('a token that expires ends its stream; a gateway that stops closes the others gracefully', async () => {
      const short = await issueTokenInProcess(gw.configFile, { subject: 'agent:listen-short', ttlSeconds: 60 });
      const stream = await openListen(gw, short, { toolsListChanged: true });
      await stream.next(() => true, 'the ack');
      const client = await connectV2(
        gw,
        await issueTokenInProcess(gw.configFile, { subject: 'agent:listen-long' }),
        'v2-graceful',
      );
      const subscription = await client.listen({ toolsListChanged: true });

      await clock.advance(120_000);
      const end: ListenMessage = await stream.next((m) => m.error !== undefined, 'the expiry error');
      expect(end.error).toMatchObject({ code: -32000, message: expect.stringMatching(/expired/) });
      await stream.ended;

      await gw.stop();
      expect(await subscription.closed).toBe('graceful');
      await client.close();
    });
  });
});

describe('MCP 2026-07-28 agents: a 2026 server says its list changed', () => {
  let dir: TempDir;
  let gw: RunningGateway;

  beforeAll(async () => {
    dir = await makeTempDir('warden-listen-2026-down');
    const policyFile = join(dir.path, 'policy.yaml');
    await writeFile(
      policyFile,
      'version: 1\nagents:\n  - id: verified\n    match: { authMethod: jwt }\n    grants:\n      - { id: all, effect: allow, tools: ["c26__*"] }\n',
    );
    gw = await startGateway({
      auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {}, maxTokenLifetimeSeconds: 3600 },
      policy: { files: [policyFile] },
      servers: {
        // over HTTP the fixture's change triggers publish to every open listen stream (its handler's notify)
        c26: {
          transport: 'http',
          url: 'http://127.0.0.1:0/mcp',
          launch: { command: 'node', args: [CONFORMANCE_2026, '--http'] },
          protocol: '2026-07-28',
        },
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await dir?.cleanup();
  });

  it('the gateway listens to the server; its tools/list_changed reaches the agent, and the new tool is listed', async () => {
    const token = await issueTokenInProcess(gw.configFile, { subject: 'agent:listen-down' });
    const stream = await openListen(gw, token, { toolsListChanged: true, promptsListChanged: true });
    await stream.next(() => true, 'the ack');
    expect(await toolNames(gw, token)).not.toContain('c26__test_added_tool_1');
    expect((await call(gw, token, 'c26__test_trigger_tool_change', {})).result).toMatchObject({
      resultType: 'complete',
    });
    await stream.next(isNotification(TOOLS_CHANGED), 'tools/list_changed from the 2026 server');
    expect(await toolNames(gw, token)).toContain('c26__test_added_tool_1');
    stream.close();
  });
});
