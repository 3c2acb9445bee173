// Task handles for MCP 2026-07-28 (stateless) agents: warden__begin_task returns a handle the agent sends
// back in `_meta` under `warden`; every request re-authorizes it against the token presenting it. The SDK
// v2 client pinned to 2026 → the real gateway process (JWT, policy, task store, audit) → the fixture.
import type { Client as ClientV2 } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureServer, type RunningGateway } from '../helpers/gateway.js';
import { runCliAsync } from '../helpers/cli.js';
import { auditRecords, auditShow, issueTokenInProcess } from '../helpers/stores.js';
import { V, connectV2, post2026, rpcOf, startJwtGateway } from '../helpers/stateless-2026.js';

// fx__test_error_handling only inside a task; fx__test_simple_text always.
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: simple, effect: allow, tools: [fx__test_simple_text] }
      - { id: in-task, effect: allow, tools: [fx__test_error_handling], task: required }
`;
const IN_TASK = 'fx__test_error_handling';

describe('MCP 2026-07-28 agents: task handles', () => {
  let gw: RunningGateway;
  const clients: ClientV2[] = [];

  const connect = async (token: string) => {
    const client = await connectV2(gw, token, 'v2-tasks');
    clients.push(client);
    return client;
  };
  const call = (client: ClientV2, name: string, handle?: string) =>
    client.callTool({ name, arguments: {}, ...(handle !== undefined && { _meta: { warden: { task: handle } } }) }).then(
      (result) => ({ ok: true as const, result }),
      (e: { code?: number; message?: string }) => ({ ok: false as const, code: e.code, message: e.message }),
    );
  const begin = async (client: ClientV2, tools: string[]) => {
    const begun = await client.callTool({ name: 'warden__begin_task', arguments: { purpose: 'handle test', tools } });
    const content = begun.structuredContent as { status: string; handle?: { warden: { task: string } } };
    expect(content.status).toBe('granted');
    return content.handle!.warden.task;
  };
  /** The audit records `audit list --agent SUB --tool TOOL --json` prints, read in this process. */
  const records = (sub: string, tool: string) => auditRecords(gw.configFile, { agent: sub, tool, limit: 50 });
  /** A token of the built-in issuer, signed in this process as `token issue` signs it. */
  const issue = (subject: string, extra: { taskPurpose?: string; grants?: string[] } = {}) =>
    issueTokenInProcess(gw.configFile, { subject, ...extra });

  beforeAll(async () => {
    gw = await startJwtGateway(POLICY, { servers: { fx: fixtureServer() } });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw?.stop();
  });

  it('begin_task returns a handle; a request runs inside the task only when it presents the handle', async () => {
    const alice = await connect(await issue('agent:alice'));
    const names = (await alice.listTools()).tools.map((t) => t.name);
    expect(names).toContain('warden__begin_task');
    expect(await call(alice, IN_TASK)).toMatchObject({ ok: false, code: -32600 });
    const handle = await begin(alice, [IN_TASK]);
    expect(await call(alice, IN_TASK, handle)).toMatchObject({ ok: true });
    // the handle is a name sent per request, not a state of the connection
    expect(await call(alice, IN_TASK)).toMatchObject({ ok: false, code: -32600 });
    const [row] = records('agent:alice', IN_TASK).filter((r) => r.decision === 'allow');
    expect(row).toMatchObject({ outcome: expect.any(String) });
  });

  it('a handle presented by another subject is refused with -32602, and the refusal is recorded', async () => {
    const alice = await connect(await issue('agent:alice2'));
    const handle = await begin(alice, [IN_TASK]);
    const mallory = await connect(await issue('agent:mallory'));
    const stolen = await call(mallory, IN_TASK, handle);
    expect(stolen).toMatchObject({ ok: false, code: -32602 });
    // reads exactly like a handle that does not exist
    const unknown = await call(mallory, IN_TASK, 'task_doesnotexist');
    expect(unknown).toMatchObject({ ok: false, code: -32602 });
    expect((stolen as { message: string }).message.replace(handle, 'H')).toBe(
      (unknown as { message: string }).message.replace('task_doesnotexist', 'H'),
    );
    const rows = records('agent:mallory', IN_TASK);
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.decision === 'deny' && r.outcome === 'denied')).toBe(true);
    const shown = auditShow(gw.configFile, rows[1]!.id);
    expect(JSON.stringify(shown)).toContain('belongs to agent:alice2');
    // the owner still uses it
    expect(await call(alice, IN_TASK, handle)).toMatchObject({ ok: true });
  });

  it('a token of the same subject whose own task does not grant the tool gets nothing from the handle', async () => {
    const wide = await connect(await issue('agent:bob'));
    const handle = await begin(wide, [IN_TASK]);
    const narrow = await connect(await issue('agent:bob', { taskPurpose: 'narrow', grants: ['fx__test_simple_text'] }));
    // the handle resolves, but inside the token's own grants the tool is hidden: it reads as unknown
    expect(await call(narrow, IN_TASK, handle)).toMatchObject({
      ok: false,
      code: -32602,
      message: `Unknown tool: ${IN_TASK}`,
    });
    expect(await call(wide, IN_TASK, handle)).toMatchObject({ ok: true });
  });

  it('a raw request with a malformed warden key is refused; the key never reaches the server', async () => {
    const token = await issue('agent:raw');
    const res = await post2026(
      gw,
      token,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: {
          name: 'fx__test_simple_text',
          arguments: {},
          _meta: {
            'io.modelcontextprotocol/protocolVersion': V,
            'io.modelcontextprotocol/clientCapabilities': {},
            warden: 'task_x',
          },
        },
      }),
      { 'mcp-method': 'tools/call', 'mcp-name': 'fx__test_simple_text' },
    );
    expect(rpcOf(res).error).toMatchObject({ code: -32602, message: expect.stringContaining('_meta.warden') });
  });

  it('end_task with the handle ends it, and task revoke refuses a handle from the next request', async () => {
    const carol = await connect(await issue('agent:carol'));
    const ended = await begin(carol, [IN_TASK]);
    const end = await carol.callTool({ name: 'warden__end_task', arguments: {}, _meta: { warden: { task: ended } } });
    expect(end.structuredContent).toMatchObject({ status: 'ended', task: ended });
    expect(await call(carol, IN_TASK, ended)).toMatchObject({ ok: false, code: -32602 });

    const revoked = await begin(carol, [IN_TASK]);
    expect(await call(carol, IN_TASK, revoked)).toMatchObject({ ok: true });
    expect((await runCliAsync(gw.configFile, ['task', 'revoke', revoked])).code).toBe(0);
    expect(await call(carol, IN_TASK, revoked)).toMatchObject({ ok: false, code: -32602 });
  });

  it('a NUL in begin_task arguments is refused as invalid arguments, on every store', async () => {
    // PostgreSQL's text cannot hold a NUL (the task's row would fail to be written); tokens with one are
    // refused at authentication (jwt-http.test.ts).
    const dave = await connect(await issue('agent:dave'));
    await expect(
      dave.callTool({ name: 'warden__begin_task', arguments: { purpose: 'tidy\u0000up', tools: [IN_TASK] } }),
    ).rejects.toThrow(/Invalid arguments for warden__begin_task: purpose: must not contain a NUL character/);
    await expect(
      dave.callTool({ name: 'warden__begin_task', arguments: { purpose: 'tidy up', tools: [`${IN_TASK}\u0000`] } }),
    ).rejects.toThrow(/tools\.0: must not contain a NUL character/);
    expect(await call(dave, IN_TASK)).toMatchObject({ ok: false });
  });
});
