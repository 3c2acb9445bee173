// Multi-round-trip requests (MRTR) for 2026-07-28 agents: the SDK v2 client pinned to 2026 → the real
// gateway (JWT, policy, audit, a test clock) → the 2025 fixture over stdio, whose fixture_interview tool
// samples, elicits and lists roots mid-call. The 2025 server's requests become `input_required` rounds
// with a sealed requestState; raw requests check what the client hides and every refused retry.
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2 } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, spawnReady, waitFor, type TempDir } from '../helpers/process.js';
import { makeTestClock, type TestClock } from '../helpers/clock.js';
import { mcpHeaders, rawRequest } from '../helpers/raw-http.js';
import { auditRecords, auditShow, issueTokenInProcess } from '../helpers/stores.js';

const V = '2026-07-28';
const RESOURCE = 'http://gateway.test/mcp';
const TOOL = 'fx__fixture_interview';
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: fx-interview, effect: allow, tools: [fx__fixture_interview, fx__fixture_last_cancelled] }
`;
const ALL_KINDS = { sampling: {}, elicitation: { form: {} }, roots: {} };
const SAMPLED = { role: 'assistant', content: { type: 'text', text: 'the moon' }, model: 'test-model' };
const ELICITED = { action: 'accept', content: { view: 'twice a day' } };
const ROOTS = { roots: [{ uri: 'file:///work/tides', name: 'tides' }] };

interface Rpc {
  id?: unknown;
  result?: {
    resultType?: string;
    inputRequests?: Record<string, { method: string; params?: Record<string, unknown> }>;
    requestState?: string;
    structuredContent?: unknown;
    isError?: boolean;
    content?: { type: string; text: string }[];
  };
  error?: { code: number; message: string };
}

describe('MRTR: a 2026-07-28 agent calling a 2025 server that asks mid-call', () => {
  let gw: RunningGateway;
  let policyDir: TempDir;
  let clock: TestClock;
  let token: string;
  let otherToken: string;

  const callJson = (
    args: Record<string, unknown>,
    extra: {
      retry?: Record<string, unknown>;
      caps?: Record<string, unknown>;
      progressToken?: string;
      tool?: string;
    } = {},
  ) =>
    JSON.stringify({
      jsonrpc: '2.0',
      id: Math.floor(Math.random() * 1e9),
      method: 'tools/call',
      params: {
        name: extra.tool ?? TOOL,
        arguments: args,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': V,
          'io.modelcontextprotocol/clientCapabilities': extra.caps ?? ALL_KINDS,
          ...(extra.progressToken !== undefined && { progressToken: extra.progressToken }),
        },
        ...extra.retry,
      },
    });
  const callHeaders = (_token?: string, bearer = token, tool = TOOL) =>
    mcpHeaders({
      authorization: `Bearer ${bearer}`,
      'mcp-protocol-version': V,
      'mcp-method': 'tools/call',
      'mcp-name': tool,
    });
  const lastCancelled = async (): Promise<Rpc> =>
    (
      await rawRequest(gw.origin, {
        body: callJson({}, { tool: 'fx__fixture_last_cancelled' }),
        headers: callHeaders(undefined, token, 'fx__fixture_last_cancelled'),
      })
    ).messages[0] as Rpc;
  const call = async (
    args: Record<string, unknown>,
    extra: { retry?: Record<string, unknown>; caps?: Record<string, unknown>; bearer?: string; status?: number } = {},
  ): Promise<Rpc> => {
    const res = await rawRequest(gw.origin, {
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: Math.floor(Math.random() * 1e9),
        method: 'tools/call',
        params: {
          name: TOOL,
          arguments: args,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': V,
            'io.modelcontextprotocol/clientCapabilities': extra.caps ?? ALL_KINDS,
          },
          ...extra.retry,
        },
      }),
      headers: mcpHeaders({
        authorization: `Bearer ${extra.bearer ?? token}`,
        'mcp-protocol-version': V,
        'mcp-method': 'tools/call',
        'mcp-name': TOOL,
      }),
    });
    expect(res.status).toBe(extra.status ?? 200);
    return res.messages[0] as Rpc;
  };
  /** The one input request of a round, and its key. */
  const only = (rpc: Rpc) => {
    expect(rpc.result?.resultType).toBe('input_required');
    const entries = Object.entries(rpc.result!.inputRequests!);
    expect(entries).toHaveLength(1);
    return { key: entries[0]![0], method: entries[0]![1].method, state: rpc.result!.requestState! };
  };
  const answer = (rpc: Rpc, response: unknown) => {
    const { key, state } = only(rpc);
    return { inputResponses: { [key]: response }, requestState: state };
  };
  /** What `audit list --agent SUB --tool TOOL --json` prints, read in this process. */
  const records = (sub: string) => auditRecords(gw.configFile, { agent: sub, tool: TOOL, limit: 50 });

  beforeAll(async () => {
    policyDir = await makeTempDir('warden-mrtr');
    clock = await makeTestClock();
    const policyFile = join(policyDir.path, 'policy.yaml');
    await writeFile(policyFile, POLICY);
    gw = await startGateway(
      {
        auth: { mode: 'jwt', resource: RESOURCE, builtin: {}, maxTokenLifetimeSeconds: 3600 },
        policy: { files: [policyFile] },
        servers: { fx: fixtureServer() },
      },
      [],
      clock.env,
    );
    token = await issueTokenInProcess(gw.configFile, { subject: 'agent:mrtr' });
    otherToken = await issueTokenInProcess(gw.configFile, { subject: 'agent:intruder' });
  });

  afterAll(async () => {
    await gw?.stop();
    await policyDir?.cleanup();
    await clock?.cleanup();
  });

  it('the v2 client answers sampling, elicitation and roots as input_required rounds; the call completes and each round is audited under it', async () => {
    const client = new ClientV2(
      { name: 'v2-mrtr', version: '2.4.0' },
      { capabilities: ALL_KINDS, versionNegotiation: { mode: { pin: V } } },
    );
    const asked: string[] = [];
    client.setRequestHandler('sampling/createMessage', async (request) => {
      asked.push(`sampling:${JSON.stringify(request.params.messages[0]?.content)}`);
      return SAMPLED as never;
    });
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(`elicitation:${(request.params as { message: string }).message}`);
      return ELICITED as never;
    });
    client.setRequestHandler('roots/list', async () => {
      asked.push('roots');
      return ROOTS;
    });
    await client.connect(
      new HttpV2(new URL(gw.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
    );
    try {
      const result = await client.callTool({ name: TOOL, arguments: { topic: 'tides' } });
      expect(result.structuredContent).toEqual({
        sampled: 'the moon',
        elicited: ELICITED,
        roots: ['file:///work/tides'],
      });
    } finally {
      await client.close();
    }
    expect(asked).toEqual(['sampling:{"type":"text","text":"tides"}', 'elicitation:Your view on tides?', 'roots']);
    const rows = records('agent:mrtr');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ decision: 'allow', outcome: 'ok' });
    const shown = auditShow(gw.configFile, rows[0]!.id) as { relays: { method: string; outcome: string }[] };
    expect(shown.relays.map((r) => [r.method, r.outcome])).toEqual([
      ['sampling/createMessage', 'ok'],
      ['elicitation/create', 'ok'],
      ['roots/list', 'ok'],
    ]);
  });

  it('asks only for kinds the agent declared: a request of an undeclared kind is refused to the server', async () => {
    const first = await call({ topic: 'kinds' }, { caps: { sampling: {} } });
    expect(only(first).method).toBe('sampling/createMessage');
    // The agent can sample but not elicit: the server's elicitation is refused (-32021), the tool fails
    // (this fixture lets the refusal escape as the call's error), and the agent is told which capability
    // the call needed: MissingRequiredClientCapability, HTTP 400.
    const done = await call({ topic: 'kinds' }, { caps: { sampling: {} }, retry: answer(first, SAMPLED), status: 400 });
    expect(done.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { elicitation: {} } } });
    expect(done.error?.message).toContain('elicitation');
  });

  it('refuses a tampered, foreign, re-targeted or replayed requestState with -32602, each audited as refused', async () => {
    const before = records('agent:mrtr').filter((r) => r.decision === 'deny').length;
    const first = await call({ topic: 'forgery' });
    const { key, state } = only(first);
    const retryWith = (requestState: string) => ({ inputResponses: { [key]: SAMPLED }, requestState });
    // One character changed in the middle of the sealed text (still well-formed base64url).
    const at = Math.floor(state.length / 2);
    const flipped = state.slice(0, at) + (state[at] === 'A' ? 'B' : 'A') + state.slice(at + 1);
    const tampered = await call({ topic: 'forgery' }, { retry: retryWith(flipped) });
    expect(tampered.error).toMatchObject({ code: -32602 });
    expect(tampered.error?.message).toContain('not one this gateway sealed');
    const foreign = await call({ topic: 'forgery' }, { retry: retryWith(state), bearer: otherToken });
    expect(foreign.error).toMatchObject({ code: -32602 });
    expect(foreign.error?.message).toContain('another principal');
    const retargeted = await call({ topic: 'something else' }, { retry: retryWith(state) });
    expect(retargeted.error?.message).toContain('another call');
    // None of those spent the state: the rightful retry goes on to the next round.
    const second = await call({ topic: 'forgery' }, { retry: retryWith(state) });
    expect(only(second).method).toBe('elicitation/create');
    const replayed = await call({ topic: 'forgery' }, { retry: retryWith(state) });
    expect(replayed.error?.message).toContain('already used');
    // Finish the call so nothing is left held.
    const third = await call({ topic: 'forgery' }, { retry: answer(second, ELICITED) });
    const done = await call({ topic: 'forgery' }, { retry: answer(third, ROOTS) });
    expect(done.result).toMatchObject({ resultType: 'complete', structuredContent: { sampled: 'the moon' } });
    const denied = records('agent:mrtr').filter((r) => r.decision === 'deny');
    expect(denied.length - before).toBe(3); // tampered, re-targeted, replayed (the foreign one is the intruder's)
    expect(records('agent:intruder').filter((r) => r.decision === 'deny')).toHaveLength(1);
    expect(JSON.stringify(denied)).not.toContain(state);
  });

  it('refuses an expired requestState', async () => {
    const first = await call({ topic: 'late' });
    await clock.advance(11 * 60_000); // past the round's 10 minutes
    const late = await call({ topic: 'late' }, { retry: answer(first, SAMPLED) });
    expect(late.error).toMatchObject({ code: -32602 });
    expect(late.error?.message).toContain('expired');
  });

  it('progress travels on the stream of each round request, under its own token; closing the request mid-call cancels the downstream call', async () => {
    const args = { topic: 'progress', holdMs: 600_000 };
    const progressOf = (rpc: Rpc[]) =>
      rpc
        .filter((m) => (m as { method?: string }).method === 'notifications/progress')
        .map((m) => {
          const params = (m as { params: { progressToken: unknown; message: string } }).params;
          return [params.progressToken, params.message];
        });
    const leg = async (token: string, retry?: Record<string, unknown>) => {
      const res = await rawRequest(gw.origin, {
        body: callJson(args, { retry, progressToken: token }),
        headers: callHeaders(token),
      });
      expect(res.headers['content-type']).toContain('text/event-stream');
      const messages = res.messages as Rpc[];
      return { progress: progressOf(messages), final: messages.at(-1)! };
    };
    const first = await leg('t1');
    expect(first.progress).toEqual([['t1', 'sampling']]);
    const second = await leg('t2', answer(first.final, SAMPLED));
    expect(second.progress).toEqual([['t2', 'eliciting']]);
    const third = await leg('t3', answer(second.final, ELICITED));
    expect(third.progress).toEqual([['t3', 'listing roots']]);
    // The last leg holds (holdMs): read its stream until 'holding' arrives, then close the request.
    const abort = new AbortController();
    const response = await fetch(gw.url, {
      method: 'POST',
      body: callJson(args, { retry: answer(third.final, ROOTS), progressToken: 't4' }),
      headers: callHeaders('t4'),
      signal: abort.signal,
    });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = '';
    while (!seen.includes('"holding"')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    expect(seen).toContain('"progressToken":"t4"');
    abort.abort();
    await reader.cancel().catch(() => undefined);
    await waitFor(async () => {
      const rpc = await lastCancelled();
      return (
        rpc.result?.structuredContent !== undefined &&
        (rpc.result.structuredContent as { cancelled: boolean }).cancelled
      );
    }, 'the downstream to see notifications/cancelled');
  });

  it('after a restart, a retry whose held call is gone runs the call again, answering the repeated question from the state; the state stays single-use', async () => {
    const first = await call({ topic: 'restart' });
    expect(only(first).method).toBe('sampling/createMessage');
    // The same gateway started again on the same config and data folder (the sealing key is kept there).
    await gw.process.stop(10_000);
    const again = await spawnReady(process.execPath, [BIN, 'serve', '--config', gw.configFile, '--port', '0'], {
      readyPattern: /^mcp-warden listening on (http:\/\/\S+)$/,
      env: clock.env,
    });
    const previous = gw;
    // stop() must stop the new process too (the old one's stop only knows the old process), then clean up.
    gw = {
      ...gw,
      process: again,
      url: again.url!,
      origin: new URL(again.url!).origin,
      stop: async () => {
        await again.stop(10_000);
        await previous.stop();
      },
    };
    const before = records('agent:mrtr').filter((r) => r.decision === 'allow').length;
    // The re-run asks for sampling again: answered with the agent's answer, so the next round is the form.
    const second = await call({ topic: 'restart' }, { retry: answer(first, SAMPLED) });
    expect(only(second).method).toBe('elicitation/create');
    expect(records('agent:mrtr').filter((r) => r.decision === 'allow').length - before).toBe(1);
    const replayed = await call({ topic: 'restart' }, { retry: answer(first, SAMPLED) });
    expect(replayed.error?.message).toContain('already used');
    const third = await call({ topic: 'restart' }, { retry: answer(second, ELICITED) });
    const done = await call({ topic: 'restart' }, { retry: answer(third, ROOTS) });
    expect(done.result).toMatchObject({
      resultType: 'complete',
      structuredContent: { sampled: 'the moon', elicited: ELICITED, roots: ['file:///work/tides'] },
    });
  });
});
