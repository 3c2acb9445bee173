// Prompts, resources and completions for MCP 2026-07-28 (stateless) agents: the SDK v2 client pinned to
// the 2026 revision → the real gateway process (JWT, policy, audit) → the 2025 conformance fixture over
// stdio. Raw requests check what the client hides: cache hints, error codes and the Mcp-Name checks.
import { join } from 'node:path';
import type { Client as ClientV2 } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, fixtureServer, type RunningGateway } from '../helpers/gateway.js';
import { auditRecords, issueTokenInProcess } from '../helpers/stores.js';
import { connectV2, request2026, rpcOf, startJwtGateway } from '../helpers/stateless-2026.js';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - id: fx-catalog
        effect: allow
        prompts: [fx__test_simple_prompt, fx__test_prompt_with_arguments]
        resources: ['test://static-text', 'test://template/*', 'test://missing-*', 'faulty://*']
`;

describe('MCP 2026-07-28 agents: prompts, resources and completions through the gateway', () => {
  let gw: RunningGateway;
  let token: string;
  let client: ClientV2;
  const post = (method: string, params: Record<string, unknown>, name?: string) =>
    request2026(gw, token, method, params, name);
  /** What `audit list --agent agent:catalog --tool TARGET --json` prints, read in this process. */
  const records = async (target: string) => auditRecords(gw.configFile, { agent: 'agent:catalog', tool: target });

  beforeAll(async () => {
    gw = await startJwtGateway(POLICY, {
      servers: {
        fx: fixtureServer(),
        faulty: { transport: 'stdio', command: 'node', args: [join(ROOT, 'dist/test/fixtures/faulty-server.js')] },
      },
    });
    token = await issueTokenInProcess(gw.configFile, { subject: 'agent:catalog' });
    client = await connectV2(gw, token, 'v2-catalog');
  });

  afterAll(async () => {
    await client?.close();
    await gw?.stop();
  });

  it('discover declares prompts, resources and completions', async () => {
    const discovered = rpcOf(await post('server/discover', {}));
    expect(discovered.result).toMatchObject({
      resultType: 'complete',
      capabilities: { tools: {}, prompts: {}, resources: {}, completions: {} },
    });
  });

  it('the v2 client lists and gets the prompts policy allows; a hidden prompt reads like a missing one', async () => {
    const names = (await client.listPrompts()).prompts.map((p) => p.name).sort();
    expect(names).toEqual(['fx__test_prompt_with_arguments', 'fx__test_simple_prompt']);
    const got = await client.getPrompt({ name: 'fx__test_prompt_with_arguments', arguments: { arg1: 'a', arg2: 'b' } });
    expect(got.messages[0]?.content).toEqual({ type: 'text', text: "Prompt with arguments: arg1='a', arg2='b'" });
    const hidden = await client.getPrompt({ name: 'fx__test_prompt_with_image' }).then(
      () => undefined,
      (e: { code?: number; message?: string }) => e,
    );
    const missing = await client.getPrompt({ name: 'fx__no_such_prompt' }).then(
      () => undefined,
      (e: { code?: number; message?: string }) => e,
    );
    expect(hidden?.code).toBe(-32602);
    expect(missing?.code).toBe(-32602);
    expect(hidden?.message?.replace('fx__test_prompt_with_image', 'X')).toBe(
      missing?.message?.replace('fx__no_such_prompt', 'X'),
    );
    const [row] = await records('fx__test_prompt_with_arguments');
    expect(row).toMatchObject({ decision: 'allow', outcome: 'ok' });
  });

  it('the v2 client lists resources and templates, reads an allowed one, and completes an argument', async () => {
    const uris = (await client.listResources()).resources.map((r) => r.uri);
    expect(uris.sort()).toEqual(['faulty://made', 'test://static-text']);
    const templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    expect(templates).toEqual(['test://template/{id}/data']);
    const read = await client.readResource({ uri: 'test://static-text' });
    expect(read.contents).toEqual([
      { uri: 'test://static-text', mimeType: 'text/plain', text: 'This is the content of the static text resource.' },
    ]);
    const completed = await client.complete({
      ref: { type: 'ref/prompt', name: 'fx__test_prompt_with_arguments' },
      argument: { name: 'arg1', value: 'pa' },
    });
    expect(completed.completion.values).toEqual(['paris', 'park', 'party']);
    const [row] = await records('test://static-text');
    expect(row).toMatchObject({ decision: 'allow', outcome: 'ok' });
  });

  it('lists and reads carry resultType and private, zero-TTL cache hints', async () => {
    for (const method of ['prompts/list', 'resources/list', 'resources/templates/list']) {
      expect(rpcOf(await post(method, {})).result, method).toMatchObject({
        resultType: 'complete',
        ttlMs: 0,
        cacheScope: 'private',
      });
    }
    const read = rpcOf(await post('resources/read', { uri: 'test://static-text' }, 'test://static-text'));
    expect(read.result).toMatchObject({ resultType: 'complete', ttlMs: 0, cacheScope: 'private' });
    const got = rpcOf(await post('prompts/get', { name: 'fx__test_simple_prompt' }, 'fx__test_simple_prompt'));
    expect(got.result).toMatchObject({ resultType: 'complete', messages: [{ role: 'user' }] });
    expect(got.result).not.toHaveProperty('ttlMs');
  });

  it('a resource not found is -32602, whether no server serves the URI or the server has no such resource', async () => {
    const unrouted = rpcOf(await post('resources/read', { uri: 'nowhere://x' }, 'nowhere://x'));
    expect(unrouted.error).toMatchObject({ code: -32602, message: 'Resource not found: nowhere://x' });
    const absent = rpcOf(await post('resources/read', { uri: 'test://missing-1' }, 'test://missing-1'));
    expect(absent.error?.code).toBe(-32602);
    // the same for the v2 client, and a resource policy hides reads like one that does not exist
    const hidden = await client.readResource({ uri: 'test://static-binary' }).then(
      () => undefined,
      (e: { code?: number }) => e,
    );
    expect(hidden?.code).toBe(-32602);
  });

  it.each([
    [
      'prompts/get',
      { name: 'fx__test_prompt_with_arguments', arguments: { arg1: 'a', arg2: 'b' } },
      'fx__test_simple_prompt',
      'fx__test_prompt_with_arguments',
      'params.name',
    ],
    ['resources/read', { uri: 'test://template/7/data' }, 'test://static-text', 'test://template/7/data', 'params.uri'],
  ])(
    '%s with an Mcp-Name naming another target than the body → 400/-32020, recorded as refused under the body target',
    async (method, params, header, target, field) => {
      const res = await post(method, params, header);
      expect(res.status).toBe(400);
      expect(rpcOf(res).error).toMatchObject({
        code: -32020,
        data: { mismatch: { header: 'Mcp-Name', body: field } },
      });
      // the v2 client's allowed uses of the same target are on record too: the refusal is the one denial
      const rows = (await records(target)).filter((r) => r.decision === 'deny');
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ decision: 'deny', outcome: 'denied' });
    },
  );

  it('a downstream error in the reserved -32020..-32099 range reaches the agent as -32000 with the server code in data', async () => {
    const res = await post('resources/read', { uri: 'faulty://code/-32042' }, 'faulty://code/-32042');
    expect(res.status).toBe(200);
    expect(rpcOf(res).error).toMatchObject({
      code: -32000,
      data: { serverCode: -32042 },
    });
    // outside the range the code passes as the server gave it
    expect(
      rpcOf(await post('resources/read', { uri: 'faulty://code/-32005' }, 'faulty://code/-32005')).error,
    ).toMatchObject({ code: -32005 });
  });
});
