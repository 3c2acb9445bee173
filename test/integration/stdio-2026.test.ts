// MCP 2026-07-28 agents over stdio: the real `mcp-warden stdio` process (JWT from MCP_WARDEN_TOKEN, a
// policy, audit) spawned as an agent host spawns it, the SDK v2 client pinned to 2026 on its stdin/stdout,
// the 2025 conformance fixture behind it. The same process still serves a 2025 client (initialize first),
// and bad lines get JSON-RPC errors while the process stays up. The tests with the SDK client share one
// process, the raw tests with a valid token another; the bad token has its own.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTokenAsync } from '../helpers/cli.js';
import { BIN, fixtureServer, writeConfig } from '../helpers/gateway.js';
import { HANG_GUARD_MS, makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { auditRecords, auditShow } from '../helpers/stores.js';
import { V } from '../helpers/stateless-2026.js';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: simple, effect: allow, tools: [fx__test_simple_text, fx__fixture_interview, fx__fixture_sleep, fx__fixture_last_cancelled] }
      - { id: in-task, effect: allow, tools: [fx__test_error_handling], task: required }
`;
const ALL_KINDS = { sampling: {}, elicitation: { form: {} }, roots: {} };
const ENVELOPE = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} };

interface Rpc {
  id?: unknown;
  method?: string;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

/** A raw agent on the gateway's stdin/stdout: one JSON line out, answers read by id. */
class RawStdio {
  private buffer = '';
  private readonly seen: Rpc[] = [];
  private readonly waiters: (() => void)[] = [];
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline = this.buffer.indexOf('\n');
      while (newline >= 0) {
        this.seen.push(JSON.parse(this.buffer.slice(0, newline)) as Rpc);
        this.buffer = this.buffer.slice(newline + 1);
        newline = this.buffer.indexOf('\n');
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    child.stderr.resume();
  }
  write(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }
  /** The answers with `id` in the order they came (null: errors that could not name a request). */
  answer(id: unknown, nth = 0): Promise<Rpc> {
    return this.first((m) => m.method === undefined && m.id === id, nth, `an answer with id ${String(id)}`);
  }
  /** The first notification with `method` whose params match `check`. */
  notification(method: string, check: (params: Record<string, unknown>) => boolean): Promise<Rpc> {
    return this.first(
      (m) => m.method === method && check((m as { params: Record<string, unknown> }).params),
      0,
      method,
    );
  }
  private async first(match: (m: Rpc) => boolean, nth: number, what: string): Promise<Rpc> {
    const deadline = Date.now() + HANG_GUARD_MS;
    for (;;) {
      const found = this.seen.filter(match)[nth];
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${what} within the hang guard`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 1000).unref();
      });
    }
  }
}

describe('MCP 2026-07-28 agents over stdio', () => {
  let config: { dir: TempDir; file: string };
  let policyDir: TempDir;
  let token: string;
  const closers: (() => Promise<void>)[] = [];

  const gatewayArgs = () => [BIN, 'stdio', '--config', config.file];
  const gatewayEnv = (bearer: string) => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    MCP_WARDEN_TOKEN: bearer,
  });
  /** The v2 client on its own `mcp-warden stdio` process, started by the first test that needs it. */
  let v2: Promise<ClientV2> | undefined;
  const sharedV2 = (): Promise<ClientV2> =>
    (v2 ??= (async () => {
      const client = new ClientV2(
        { name: 'v2-stdio', version: '2.4.0' },
        { capabilities: ALL_KINDS, versionNegotiation: { mode: { pin: V } } },
      );
      await client.connect(
        new StdioV2({ command: process.execPath, args: gatewayArgs(), env: gatewayEnv(token), stderr: 'pipe' }),
      );
      closers.push(() => client.close());
      return client;
    })());
  const rawGateway = (bearer = token): RawStdio => {
    const child = spawn(process.execPath, gatewayArgs(), { env: gatewayEnv(bearer), stdio: 'pipe' });
    closers.push(async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await exited;
    });
    return new RawStdio(child);
  };
  /** The raw agent with the valid token, on one process for the raw tests that need no fresh one. */
  let raw: RawStdio | undefined;
  const sharedRaw = (): RawStdio => (raw ??= rawGateway());
  const records = (tool: string) => auditRecords(config.file, { agent: 'agent:stdio26', tool, limit: 50 });

  beforeAll(async () => {
    policyDir = await makeTempDir('warden-stdio-2026');
    const policyFile = join(policyDir.path, 'policy.yaml');
    await writeFile(policyFile, POLICY);
    config = await writeConfig({
      auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {}, maxTokenLifetimeSeconds: 3600 },
      policy: { files: [policyFile] },
      servers: { fx: fixtureServer() },
    });
    token = await issueTokenAsync(config.file, ['--sub', 'agent:stdio26']);
  });

  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await config?.dir.cleanup();
    await policyDir?.cleanup();
  });

  it('the v2 client discovers, lists and calls; a tool policy does not grant reads as unknown and is audited as denied', async () => {
    const client = await sharedV2();
    const discovered = (await client.request({ method: 'server/discover' } as never)) as Record<string, unknown>;
    expect(discovered).toMatchObject({ supportedVersions: [V], capabilities: { tools: {} } });
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['fx__test_simple_text', 'warden__begin_task']));
    expect(names).not.toContain('fx__test_image_content');
    const result = await client.callTool({ name: 'fx__test_simple_text', arguments: {} });
    expect(result.content).toEqual([expect.objectContaining({ type: 'text' })]);
    await expect(client.callTool({ name: 'fx__test_image_content', arguments: {} })).rejects.toMatchObject({
      code: -32602,
      message: expect.stringContaining('Unknown tool: fx__test_image_content') as unknown,
    });
    expect(records('fx__test_simple_text')).toEqual([expect.objectContaining({ decision: 'allow', outcome: 'ok' })]);
    const [denied] = records('fx__test_image_content');
    expect(denied).toMatchObject({ decision: 'deny', outcome: 'denied' });
    expect(auditShow(config.file, denied!.id)).toMatchObject({
      intent: expect.objectContaining({ ingress: 'stdio' }) as unknown,
    });
  });

  it('a task handle from warden__begin_task is presented per request and runs the call inside the task', async () => {
    const client = await sharedV2();
    const call = (handle?: string) =>
      client
        .callTool({
          name: 'fx__test_error_handling',
          arguments: {},
          ...(handle !== undefined && { _meta: { warden: { task: handle } } }),
        })
        .then(
          () => ({ ok: true }),
          (e: { code?: number }) => ({ ok: false, code: e.code }),
        );
    expect(await call()).toMatchObject({ ok: false, code: -32600 });
    const begun = await client.callTool({
      name: 'warden__begin_task',
      arguments: { purpose: 'stdio handle', tools: ['fx__test_error_handling'] },
    });
    const handle = (begun.structuredContent as { handle: { warden: { task: string } } }).handle.warden.task;
    expect(await call(handle)).toMatchObject({ ok: true });
    expect(await call('task_not_mine')).toMatchObject({ ok: false, code: -32602 });
  });

  it("a 2025 server's sampling, elicitation and roots reach the v2 client as input_required rounds; the call completes", async () => {
    const client = await sharedV2();
    const asked: string[] = [];
    client.setRequestHandler('sampling/createMessage', async () => {
      asked.push('sampling');
      return { role: 'assistant', content: { type: 'text', text: 'the moon' }, model: 'test-model' } as never;
    });
    client.setRequestHandler('elicitation/create', async () => {
      asked.push('elicitation');
      return { action: 'accept', content: { view: 'twice a day' } } as never;
    });
    client.setRequestHandler('roots/list', async () => {
      asked.push('roots');
      return { roots: [{ uri: 'file:///work/tides', name: 'tides' }] };
    });
    const result = await client.callTool({ name: 'fx__fixture_interview', arguments: { topic: 'tides' } });
    expect(result.structuredContent).toEqual({
      sampled: 'the moon',
      elicited: { action: 'accept', content: { view: 'twice a day' } },
      roots: ['file:///work/tides'],
    });
    expect(asked).toEqual(['sampling', 'elicitation', 'roots']);
    const [row] = records('fx__fixture_interview');
    const shown = auditShow(config.file, row!.id) as { relays: { method: string; outcome: string }[] };
    expect(shown.relays.map((r) => [r.method, r.outcome])).toEqual([
      ['sampling/createMessage', 'ok'],
      ['elicitation/create', 'ok'],
      ['roots/list', 'ok'],
    ]);
  });

  it('progress of an open request comes as notification lines, and notifications/cancelled cancels its downstream call', async () => {
    const raw = sharedRaw();
    const call = (id: number, name: string, args: Record<string, unknown>, meta: Record<string, unknown> = {}) =>
      raw.write(
        JSON.stringify({
          jsonrpc: '2.0',
          id,
          method: 'tools/call',
          params: { name, arguments: args, _meta: { ...ENVELOPE, ...meta } },
        }),
      );
    call(7, 'fx__fixture_sleep', { ms: 600_000 }, { progressToken: 'p7' });
    // the fixture reports progress 0 once the call has reached it
    await raw.notification('notifications/progress', (p) => p.progressToken === 'p7');
    raw.write(
      JSON.stringify({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: 7, reason: 'the agent gave up', _meta: ENVELOPE },
      }),
    );
    let asked = 100;
    await waitFor(async () => {
      asked += 1;
      call(asked, 'fx__fixture_last_cancelled', {});
      const answer = await raw.answer(asked);
      return (answer.result?.structuredContent as { cancelled?: boolean } | undefined)?.cancelled;
    }, 'the fixture to see its sleep cancelled');
    const [row] = records('fx__fixture_sleep');
    expect(row).toMatchObject({ decision: 'allow' });
    expect(row!.outcome).not.toBe('ok');
  });

  it('bad lines get JSON-RPC errors and the process stays up; a 2025 client then initializes on it', async () => {
    // the process the progress test used: it sent other ids and drew no error without an id
    const raw = sharedRaw();
    raw.write('this is not json');
    expect((await raw.answer(null)).error).toMatchObject({ code: -32700 });
    raw.write(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'server/discover',
        params: { _meta: { ...ENVELOPE, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } },
      }),
    );
    expect((await raw.answer(1)).error).toMatchObject({
      code: -32022,
      data: { supported: [V], requested: '2099-01-01' },
    });
    raw.write(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/list',
        params: { _meta: { 'io.modelcontextprotocol/protocolVersion': V } },
      }),
    );
    expect((await raw.answer(2)).error).toMatchObject({ code: -32602 });
    raw.write(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'fixture/unknown', params: { _meta: ENVELOPE } }));
    expect((await raw.answer(3)).error).toMatchObject({ code: -32601 });
    raw.write(JSON.stringify({ foo: 1 }));
    expect((await raw.answer(null, 1)).error).toMatchObject({ code: -32600 });
    // still up: a well-formed 2026 request is answered
    raw.write(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'server/discover', params: { _meta: ENVELOPE } }));
    expect((await raw.answer(4)).result).toMatchObject({ supportedVersions: [V] });
    // and a 2025 agent's initialize opens the 2025 session on the same process
    raw.write(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 5,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-2025', version: '1' } },
      }),
    );
    expect((await raw.answer(5)).result).toMatchObject({ protocolVersion: '2025-11-25' });
    raw.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    raw.write(JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/list', params: {} }));
    const listed = (await raw.answer(6)).result as { tools: { name: string }[]; resultType?: string };
    expect(listed.tools.map((t) => t.name)).toContain('fx__test_simple_text');
    expect(listed.resultType).toBeUndefined();
  });

  it('a 2026 request with a bad stdio token is refused before anything runs, and the failure is recorded', async () => {
    const raw = rawGateway('not-a-token');
    raw.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: ENVELOPE } }));
    expect((await raw.answer(1)).error).toMatchObject({
      code: -32600,
      message: expect.stringContaining('Authentication required') as unknown,
    });
    raw.write(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'fx__test_simple_text', arguments: {}, _meta: ENVELOPE },
      }),
    );
    expect((await raw.answer(2)).error).toMatchObject({ code: -32600 });
    const failures = await waitFor(() => {
      const db = new Database(join(config.dir.path, 'data', 'audit.db'), { readonly: true });
      try {
        const rows = db.prepare("SELECT body FROM entries WHERE type = 'auth.failure'").all() as { body: string }[];
        const stdio = rows.map((r) => JSON.parse(r.body) as { data: { ingress: string } });
        return stdio.filter((r) => r.data.ingress === 'stdio').length >= 2 ? stdio : undefined;
      } finally {
        db.close();
      }
    }, 'two auth.failure entries');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    // nothing ran for the caller without a valid token: every record of the tool is the valid agent's
    const calls = auditRecords(config.file, { tool: 'fx__test_simple_text', limit: 50 });
    expect(calls.every((r) => r.subject === 'agent:stdio26')).toBe(true);
  });
});
