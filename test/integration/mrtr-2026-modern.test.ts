// MRTR between two 2026-07-28 parties (issue 18): the SDK v2 client pinned to 2026 → the real gateway
// (JWT, policy, audit) → the 2026-only modern fixture over stdio, whose `ask` tool answers
// `input_required` for a sampling answer, an elicitation answer and the roots. The agent is asked (as
// its own input_required rounds), its answers reach the server, and each request is audited under the
// call. Progress and cancellation across this pair are not covered here yet (the fixture's tool has
// neither); mrtr-2026.test.ts covers them for a 2025 server.
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2 } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type RunningGateway } from '../helpers/gateway.js';
import { auditRecords, auditShow, issueTokenInProcess } from '../helpers/stores.js';
import { V, startJwtGateway } from '../helpers/stateless-2026.js';

const MODERN = join(ROOT, 'dist/test/fixtures/modern-server.js');
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: ask, effect: allow, tools: [m__ask] }
`;

describe('MRTR: a 2026 agent calling a 2026 server that asks mid-call', () => {
  let gw: RunningGateway;
  let token: string;

  beforeAll(async () => {
    gw = await startJwtGateway(POLICY, {
      servers: { m: { transport: 'stdio', command: 'node', args: [MODERN, '--stdio'], protocol: '2026-07-28' } },
    });
    token = await issueTokenInProcess(gw.configFile, { subject: 'agent:modern-mrtr' });
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('the agent answers sampling, elicitation and roots; the server gets the answers; each is audited under the call', async () => {
    const client = new ClientV2(
      { name: 'v2-modern-mrtr', version: '2.4.0' },
      {
        capabilities: { sampling: {}, elicitation: { form: {} }, roots: {} },
        versionNegotiation: { mode: { pin: V } },
      },
    );
    const asked: string[] = [];
    client.setRequestHandler('sampling/createMessage', async () => {
      asked.push('sampling');
      return { role: 'assistant', content: { type: 'text', text: 'hello' }, model: 'test-model' } as never;
    });
    client.setRequestHandler('elicitation/create', async () => {
      asked.push('elicitation');
      return { action: 'accept', content: { ok: true } } as never;
    });
    client.setRequestHandler('roots/list', async () => {
      asked.push('roots');
      return { roots: [{ uri: 'file:///work/modern', name: 'modern' }] };
    });
    await client.connect(
      new HttpV2(new URL(gw.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
    );
    let text: string;
    try {
      const result = await client.callTool({ name: 'm__ask', arguments: {} });
      text = (result.content as { type: string; text: string }[])[0]!.text;
    } finally {
      await client.close();
    }
    expect(asked.sort()).toEqual(['elicitation', 'roots', 'sampling']);
    expect(text).toContain('hello');
    expect(text).toContain('file:///work/modern');
    const rows = auditRecords(gw.configFile, { agent: 'agent:modern-mrtr', tool: 'm__ask' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ decision: 'allow', outcome: 'ok' });
    const shown = auditShow(gw.configFile, rows[0]!.id) as { relays: { method: string; outcome: string }[] };
    expect(shown.relays.map((r) => r.method).sort()).toEqual([
      'elicitation/create',
      'roots/list',
      'sampling/createMessage',
    ]);
  });
});
