// `subscriptions/listen` for MCP 2026-07-28 agents over stdio: the real `mcp-warden stdio` process (JWT
// from MCP_WARDEN_TOKEN, a watched policy, the audit) in front of the conformance fixture, read line by
// line as a raw agent, and through the SDK v2 client's listen(). Streams share the one stdout; each line names its stream by subscription id. Each
// test waits on the line it expects; the absence of one is shown by a later expected line arriving first.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTokenAsync, runCliAsync } from '../helpers/cli.js';
import { BIN, fixtureServer, writeConfig } from '../helpers/gateway.js';
import { HANG_GUARD_MS, makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { V } from '../helpers/stateless-2026.js';
import { auditEvents, issueTokenInProcess } from '../helpers/stores.js';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: tools, effect: allow, tools: ["fx__*"] }
`;
const ENVELOPE = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} };
const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const TOOLS_CHANGED = 'notifications/tools/list_changed';
const ACKNOWLEDGED = 'notifications/subscriptions/acknowledged';

interface Line {
  id?: unknown;
  method?: string;
  params?: Record<string, unknown> & { _meta?: Record<string, unknown> };
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/** A raw 2026 agent on the gateway's stdin/stdout: every line it has read, in order. */
class Agent {
  readonly lines: Line[] = [];
  private buffer = '';
  private stderrText = '';
  private readonly waiters: (() => void)[] = [];
  readonly exited: Promise<unknown>;
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline = this.buffer.indexOf('\n');
      while (newline >= 0) {
        this.lines.push(JSON.parse(this.buffer.slice(0, newline)) as Line);
        this.buffer = this.buffer.slice(newline + 1);
        newline = this.buffer.indexOf('\n');
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (this.stderrText += chunk));
  }
  get stderr(): string {
    return this.stderrText;
  }
  send(message: Record<string, unknown>): void {
    this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
  }
  listen(id: string, filter: Record<string, unknown>): void {
    this.send({ id, method: 'subscriptions/listen', params: { notifications: filter, _meta: ENVELOPE } });
  }
  cancel(id: string): void {
    this.send({ method: 'notifications/cancelled', params: { requestId: id, _meta: ENVELOPE } });
  }
  /** The index of the first line after `from` that `match` accepts, once it has come. */
  async next(match: (line: Line) => boolean, what: string, from = 0): Promise<number> {
    const deadline = Date.now() + HANG_GUARD_MS;
    for (;;) {
      const at = this.lines.findIndex((line, i) => i >= from && match(line));
      if (at >= 0) return at;
      if (Date.now() > deadline) throw new Error(`no ${what} within the hang guard: ${JSON.stringify(this.lines)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 1000).unref();
      });
    }
  }
}

const of = (id: string, method: string) => (line: Line) =>
  line.method === method && line.params?._meta?.[SUBSCRIPTION_ID] === id;
const answerOf = (id: string) => (line: Line) => line.method === undefined && line.id === id;
const cancelledOf = (id: string) => (line: Line) =>
  line.method === 'notifications/cancelled' && line.params?.requestId === id;

describe('MCP 2026-07-28 agents over stdio: subscriptions/listen', () => {
  let config: { dir: TempDir; file: string };
  let policyDir: TempDir;
  let policyFile: string;
  const agents: Agent[] = [];

  /**
   * A token for `subject`: the first from `mcp-warden token issue` (which creates the signing key), later
   * ones signed in this process with the same modules.
   */
  let keyMade = false;
  const tokenFor = async (subject: string): Promise<string> => {
    if (keyMade) return issueTokenInProcess(config.file, { subject });
    const token = await issueTokenAsync(config.file, ['--sub', subject]);
    keyMade = true;
    return token;
  };
  const start = async (subject: string): Promise<Agent> => {
    const token = await tokenFor(subject);
    const child = spawn(process.execPath, [BIN, 'stdio', '--config', config.file], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MCP_WARDEN_TOKEN: token },
      stdio: 'pipe',
    });
    const agent = new Agent(child);
    agents.push(agent);
    return agent;
  };
  const reloadPolicy = async (agent: Agent, text: string) => {
    const reloads = () => agent.stderr.split('policy reloaded').length - 1;
    const before = reloads();
    await writeFile(policyFile, text);
    await waitFor(() => reloads() > before, 'the policy reload');
  };

  beforeAll(async () => {
    policyDir = await makeTempDir('warden-stdio-listen');
    policyFile = join(policyDir.path, 'policy.yaml');
    await writeFile(policyFile, POLICY);
    config = await writeConfig({
      auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {}, maxTokenLifetimeSeconds: 3600 },
      policy: { files: [policyFile], watch: true },
      servers: { fx: fixtureServer() },
    });
  });

  afterAll(async () => {
    for (const agent of agents) {
      if (agent.child.exitCode !== null || agent.child.signalCode !== null) continue;
      agent.child.stdin.end();
      await agent.exited;
    }
    await config?.dir.cleanup();
    await policyDir?.cleanup();
  });

  it('two streams on one connection: acks first, a reload reaches both, a cancelled one hears no more, shutdown ends the other', async () => {
    const subject = 'agent:stdio-listen';
    const agent = await start(subject);
    agent.listen('a', { toolsListChanged: true });
    agent.listen('b', { toolsListChanged: true });
    const ackA = await agent.next(of('a', ACKNOWLEDGED), 'the ack of a');
    const ackB = await agent.next(of('b', ACKNOWLEDGED), 'the ack of b');
    expect(agent.lines[ackA]!.params).toMatchObject({ notifications: { toolsListChanged: true } });
    expect(agent.lines[ackB]!.params).toMatchObject({ notifications: { toolsListChanged: true } });

    await reloadPolicy(agent, `${POLICY}      - { id: hide, effect: deny, tools: [fx__test_simple_text] }\n`);
    await agent.next(of('a', TOOLS_CHANGED), 'list_changed on a');
    await agent.next(of('b', TOOLS_CHANGED), 'list_changed on b');

    // The agent cancels a: recorded as closed by the agent, and nothing is answered for it.
    agent.cancel('a');
    await waitFor(
      () => auditEvents(config.file, { type: 'listen.end', agent: subject }).length > 0,
      'the listen.end of a',
    );
    expect(auditEvents(config.file, { type: 'listen.end', agent: subject })[0]).toMatchObject({
      data: { reason: 'closed by the agent', jsonrpcId: 'a', ingress: 'stdio' },
    });
    const mark = agent.lines.length;
    await reloadPolicy(agent, POLICY);
    const onB = await agent.next(of('b', TOOLS_CHANGED), 'the second list_changed on b', mark);
    expect(agent.lines.slice(mark, onB + 1).filter(of('a', TOOLS_CHANGED))).toEqual([]);

    // Shutdown ends b with the empty listen result (a graceful close); a never gets an answer.
    agent.child.kill('SIGTERM');
    await agent.exited;
    const closing = agent.lines.filter(answerOf('b'));
    expect(closing).toHaveLength(1);
    expect(closing[0]).toMatchObject({ id: 'b', result: { _meta: { [SUBSCRIPTION_ID]: 'b' } } });
    expect(agent.lines.filter(answerOf('a'))).toEqual([]);
    // On stdio the server ends a stream itself with notifications/cancelled naming the listen request.
    expect(agent.lines.filter(cancelledOf('b'))).toHaveLength(1);
    expect(agent.lines.filter(cancelledOf('a'))).toEqual([]);
  });

  it('a revoked agent: its stream ends with the error HTTP gives, and the process stays up', async () => {
    const subject = 'agent:stdio-listen-revoked';
    const agent = await start(subject);
    agent.listen('r', { toolsListChanged: true });
    await agent.next(of('r', ACKNOWLEDGED), 'the ack');
    expect((await runCliAsync(config.file, ['agent', 'revoke', subject, '--reason', 'stdio listen test'])).code).toBe(
      0,
    );
    const end = await agent.next(answerOf('r'), 'the closing error');
    expect(agent.lines[end]).toMatchObject({
      id: 'r',
      error: { code: -32000, message: 'Forbidden: the credential, its agent or its task was revoked' },
    });
    // the end is recorded after it is sent: wait for the record, not for a moment
    const [ended] = await waitFor(() => {
      const events = auditEvents(config.file, { type: 'listen.end', agent: subject });
      return events.length > 0 ? events : undefined;
    }, 'the listen.end record');
    expect(String((ended?.data as { reason: string }).reason)).toMatch(/revoked/);
    await agent.next(cancelledOf('r'), 'the notifications/cancelled naming r', end);
    // Still serving: the next listen is refused as revoked, answered on the same stdout.
    agent.listen('r2', { toolsListChanged: true });
    const again = await agent.next(answerOf('r2'), 'the refusal');
    expect(agent.lines[again]).toMatchObject({ error: { code: -32000 } });
  });

  it("the SDK v2 client's listen() over stdio: the ack names what is honored, a server list_changed arrives, close ends it", async () => {
    const token = await tokenFor('agent:stdio-listen-sdk');
    const client = new ClientV2(
      { name: 'v2-stdio-listener', version: '1' },
      { versionNegotiation: { mode: { pin: V } } },
    );
    await client.connect(
      new StdioV2({
        command: process.execPath,
        args: [BIN, 'stdio', '--config', config.file],
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MCP_WARDEN_TOKEN: token },
        stderr: 'pipe',
      }),
    );
    try {
      const changed = new Promise<void>((resolve) =>
        client.setNotificationHandler('notifications/tools/list_changed', () => resolve()),
      );
      const subscription = await client.listen({ toolsListChanged: true });
      expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
      // The fixture adds a tool to this principal's connection and says its list changed.
      await client.callTool({ name: 'fx__fixture_add_tool', arguments: { name: 'added_over_stdio' } });
      await changed;
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('fx__added_over_stdio');
      await subscription.close();
      expect(await subscription.closed).toBe('local');
      await waitFor(
        () => auditEvents(config.file, { type: 'listen.end', agent: 'agent:stdio-listen-sdk' }).length > 0,
        'the listen.end event',
      );
    } finally {
      await client.close();
    }
  });
});
