// A task's follow-ups carry the agent's `_meta` (issue 18): a 2025 agent (SDK v1 client over HTTP) →
// the real gateway process (JWT, policy, audit) → a stdio server whose one tool runs as an MCP task and
// whose tasks/get, tasks/result and tasks/cancel report the `_meta` they were sent
// (test/fixtures/task-meta-server.ts). Trace context reaches the server on each follow-up, checked as
// on any call; a malformed value is dropped.
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CancelTaskResultSchema,
  CreateTaskResultSchema,
  GetTaskPayloadResultSchema,
  GetTaskResultSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type RunningGateway } from '../helpers/gateway.js';
import { issueTokenAsync } from '../helpers/cli.js';
import { startJwtGateway } from '../helpers/stateless-2026.js';

const SERVER = join(ROOT, 'dist/test/fixtures/task-meta-server.js');
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: tasks, effect: allow, tools: [tk__slow_task] }
`;
const TRACE = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'congo=t61rcWkgMzE',
  baggage: 'userId=alice',
};

describe("a task's follow-ups carry the agent's _meta to its server", () => {
  let gw: RunningGateway;
  let client: Client;

  beforeAll(async () => {
    gw = await startJwtGateway(POLICY, { servers: { tk: { transport: 'stdio', command: 'node', args: [SERVER] } } });
    const token = await issueTokenAsync(gw.configFile, ['--sub', 'agent:tasks']);
    client = new Client({ name: 'agent-2025', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gw.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
  });

  afterAll(async () => {
    await client?.close();
    await gw?.stop();
  });

  it('tasks/get, tasks/result and tasks/cancel pass on checked trace context; a malformed value is dropped', async () => {
    const created = await client.request(
      { method: 'tools/call', params: { name: 'tk__slow_task', arguments: {}, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    const taskId = created.task.taskId;
    const got = await client.request({ method: 'tasks/get', params: { taskId, _meta: TRACE } }, GetTaskResultSchema);
    expect(JSON.parse(got.statusMessage!)).toMatchObject(TRACE);
    const result = await client.request(
      { method: 'tasks/result', params: { taskId, _meta: { ...TRACE, baggage: 'no value' } } },
      GetTaskPayloadResultSchema,
    );
    const seen = JSON.parse((result.content as { text: string }[])[0]!.text) as Record<string, unknown>;
    expect(seen).toMatchObject({ traceparent: TRACE.traceparent, tracestate: TRACE.tracestate });
    expect(seen.baggage).toBeUndefined();
    const cancelled = await client.request(
      { method: 'tasks/cancel', params: { taskId, _meta: { traceparent: TRACE.traceparent } } },
      CancelTaskResultSchema,
    );
    expect(JSON.parse(cancelled.statusMessage!)).toMatchObject({ traceparent: TRACE.traceparent });
  });
});
