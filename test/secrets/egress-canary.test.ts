// The egress canary suite (issue 14): random canaries through every secret source (env, file, exec,
// minted, the launch credential) reach hostile servers that echo them through every path they have
// towards the agent (definitions, templates, instructions, completions, results, errors, progress and
// log notifications, an elicitation request, stderr), raw, encoded at every base64 alignment and as
// token segments. None may be found in the agent's raw bytes (HTTP and stdio), the gateway's output,
// any file of the data folder (SQLite main files and WALs), `audit export` or `tools diff`.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync } from '../helpers/cli.js';
import { BIN, ROOT, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const ECHO = join(ROOT, 'dist/test/fixtures/echo-secrets-server.js');
const canary = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;
const ENV_CANARY = canary('envcanary');
const FILE_CANARY = canary('filecanary');
const EXEC_CANARY = canary('execcanary');

/** The forms a value must not take anywhere: raw, hex, URL-encoded, and base64/base64url at each alignment. */
function forms(value: string): string[] {
  const bytes = Buffer.from(value);
  const out = [value, encodeURIComponent(value), bytes.toString('hex'), bytes.toString('hex').toUpperCase()];
  for (const k of [0, 1, 2]) {
    for (const encoding of ['base64', 'base64url'] as const) {
      const encoded = Buffer.concat([Buffer.alloc(k, 0x6b), bytes]).toString(encoding);
      out.push(encoded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6)));
    }
  }
  // A token's payload and signature are secrets on their own.
  const segments = value.replace(/^Bearer /, '').split('.');
  if (segments.length === 3) for (const segment of segments.slice(1)) out.push(...forms(segment));
  return out;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

interface Agent {
  client: Client;
  bytes: string[];
  close(): Promise<void>;
}

/** The messages of every prompt the agents got. */
const promptsSeen: unknown[] = [];
/** The sampling requests relayed to the agents (their parameters, as received). */
const sampled: string[] = [];

/** What the agents received as lists, definitions and completions (a subset of their bytes). */
const definitionBytes: string[] = [];

/** Lists everything, completes, reads, gets a prompt and calls the echo tools of both servers. */
async function exercise(agent: Agent): Promise<void> {
  const { client, bytes } = agent;
  const keep = (value: unknown) => void bytes.push(JSON.stringify(value));
  const keepDefinitions = (value: unknown) => {
    keep(value);
    definitionBytes.push(JSON.stringify(value));
  };
  keep(client.getInstructions());
  const { tools } = await client.listTools();
  keepDefinitions(tools);
  // The echoing definitions are listed (not hidden), with the values they echoed redacted.
  for (const name of ['stdio__echo', 'web__echo'])
    expect.soft(tools.find((t) => t.name === name)?.description).toContain('[REDACTED]');
  const { prompts } = await client.listPrompts();
  keepDefinitions(prompts);
  expect
    .soft(prompts.map((p) => p.description))
    .toEqual([expect.stringContaining('[REDACTED]'), expect.stringContaining('[REDACTED]')]);
  const { resources } = await client.listResources();
  keepDefinitions(resources);
  expect
    .soft(resources.map((r) => r.description))
    .toEqual([expect.stringContaining('[REDACTED]'), expect.stringContaining('[REDACTED]')]);
  const { resourceTemplates } = await client.listResourceTemplates();
  keepDefinitions(resourceTemplates);
  expect
    .soft(resourceTemplates.map((t) => t.description))
    .toEqual([expect.stringContaining('[REDACTED]'), expect.stringContaining('[REDACTED]')]);
  for (const server of ['stdio', 'web']) {
    keepDefinitions(
      await client.complete({
        ref: { type: 'ref/prompt', name: `${server}__echo_prompt` },
        argument: { name: 'topic', value: 'x' },
      }),
    );
    const prompt = await client.getPrompt({ name: `${server}__echo_prompt`, arguments: { topic: 'x' } });
    keep(prompt);
    promptsSeen.push(prompt.messages);
    keep(await client.readResource({ uri: `${server}://doc` }));
    keep(await client.callTool({ name: `${server}__echo`, arguments: {} }, undefined, { onprogress: keep }));
    keep(
      await client
        .callTool({ name: `${server}__echo`, arguments: { fail: true } })
        .catch((error: Error) => ({ error: error.message, data: (error as { data?: unknown }).data })),
    );
  }
}

function withElicitation(client: Client, bytes: string[]): Client {
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    bytes.push(JSON.stringify(request));
    return { action: 'decline' };
  });
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    bytes.push(JSON.stringify(request));
    sampled.push(JSON.stringify(request.params));
    return { role: 'assistant', content: { type: 'text', text: 'no' }, model: 'canary' };
  });
  client.fallbackNotificationHandler = async (notification) => void bytes.push(JSON.stringify(notification));
  return client;
}

async function httpAgent(url: string): Promise<Agent> {
  const bytes: string[] = [];
  const client = withElicitation(
    new Client({ name: 'canary-http', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {} } }),
    bytes,
  );
  const teeFetch: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    void response
      .clone()
      .text()
      .then(
        (text) => bytes.push(text),
        () => undefined,
      );
    return response;
  };
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: teeFetch }));
  return { client, bytes, close: () => client.close() };
}

async function stdioAgent(configFile: string, gatewayOutput: string[]): Promise<Agent> {
  const bytes: string[] = [];
  const client = withElicitation(
    new Client({ name: 'canary-stdio', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {} } }),
    bytes,
  );
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'stdio', '--config', configFile],
    stderr: 'pipe',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', WARDEN_TEST_EGRESS_ENV: ENV_CANARY },
  });
  transport.stderr?.on('data', (chunk: Buffer) => gatewayOutput.push(chunk.toString('utf8')));
  await client.connect(transport);
  // Every message the gateway wrote to the agent's stdin, as the agent received it.
  const deliver = transport.onmessage!;
  transport.onmessage = (message) => {
    bytes.push(JSON.stringify(message));
    deliver(message);
  };
  return { client, bytes, close: () => client.close() };
}

describe('egress canary: no secret leaves by any path, in any form', () => {
  let gateway: RunningGateway;
  let side: TempDir;
  let leakFile: string;
  const gatewayOutput: string[] = [];
  const agentBytes: string[] = [];
  const cliOutput: string[] = [];
  let auditExport = '';

  beforeAll(async () => {
    side = await makeTempDir('warden-egress');
    const secretFile = join(side.path, 'secret.txt');
    leakFile = join(side.path, 'received.jsonl');
    await writeFile(secretFile, `${FILE_CANARY}\n`);
    process.env.WARDEN_TEST_EGRESS_ENV = ENV_CANARY;
    gateway = await startGateway({
      // Results are kept in the record too: what the agent got is what the audit store holds.
      audit: { captureResults: true },
      secrets: {
        envs: { source: 'env', name: 'WARDEN_TEST_EGRESS_ENV' },
        files: { source: 'file', path: secretFile },
        execs: {
          source: 'exec',
          command: [process.execPath, '-e', `process.stdout.write(${JSON.stringify(`${EXEC_CANARY}\n`)})`],
          ttlSeconds: 300,
        },
        minted: { source: 'minted', audience: 'echo', ttlSeconds: 60 },
      },
      servers: {
        stdio: {
          transport: 'stdio',
          command: 'node',
          args: [ECHO, '--stdio'],
          env: { ECHO_LEAK_FILE: leakFile, ECHO_SCHEME: 'stdio' },
          secrets: { env: { WARDEN_CANARY_ENV: 'envs', WARDEN_CANARY_EXEC: 'execs' }, arguments: { token: 'files' } },
        },
        web: {
          transport: 'http',
          url: 'http://127.0.0.1:0/mcp',
          launch: { command: 'node', args: [ECHO, '--http'], env: { ECHO_LEAK_FILE: leakFile, ECHO_SCHEME: 'web' } },
          // Each gateway launches its own copy with its own credential, so its definitions differ per process.
          pinning: 'off',
          secrets: {
            headers: {
              'X-Canary-Token': 'Bearer {{secret:minted}}',
              'X-Canary-File': '{{secret:files}}',
              'X-Canary-Exec': '{{secret:execs}}',
            },
          },
        },
      },
    });
    gateway.process.child.stdout.on('data', (chunk: Buffer) => gatewayOutput.push(chunk.toString('utf8')));
    gateway.process.child.stderr.on('data', (chunk: Buffer) => gatewayOutput.push(chunk.toString('utf8')));
  });

  afterAll(async () => {
    await gateway?.stop();
    await side?.cleanup();
    delete process.env.WARDEN_TEST_EGRESS_ENV;
  });

  it('every echo path over HTTP carries only redacted values', async () => {
    const agent = await httpAgent(gateway.url);
    try {
      await exercise(agent);
    } finally {
      await agent.close();
      agentBytes.push(...agent.bytes);
    }
    expect(agent.bytes.join('\n')).toContain('[REDACTED]');
  });

  it('every echo path over stdio carries only redacted values', async () => {
    const agent = await stdioAgent(gateway.configFile, gatewayOutput);
    try {
      await exercise(agent);
    } finally {
      await agent.close();
      agentBytes.push(...agent.bytes);
    }
    expect(agent.bytes.join('\n')).toContain('[REDACTED]');
  });

  it('audit export and tools diff show only redacted values', async () => {
    for (const args of [
      ['audit', 'export', '--format', 'jsonl'],
      ['tools', 'diff', 'stdio__echo'],
      ['tools', 'diff', 'stdio__echo_prompt', '--kind', 'prompt'],
      ['tools', 'list', '--json'],
    ]) {
      const result = await runCliAsync(gateway.configFile, args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      cliOutput.push(result.stdout, result.stderr);
      if (args[1] === 'export') auditExport = result.stdout;
    }
  });

  /** Where each form of each value was found: `where` names the places to look. */
  function leaks(
    values: readonly string[],
    formsOf: (value: string) => string[],
    where: readonly ('agent' | 'definitions' | 'output' | 'cli' | 'state' | 'files')[],
  ): string[] {
    const places: [string, string | Buffer][] = [];
    if (where.includes('agent')) places.push(['agent', agentBytes.join('\n')]);
    if (where.includes('definitions')) places.push(['definitions', definitionBytes.join('\n')]);
    if (where.includes('output')) places.push(['gateway output', gatewayOutput.join('')]);
    if (where.includes('cli')) places.push(['audit export / tools diff', cliOutput.join('\n')]);
    const data = files(join(gateway.dir.path, 'data'));
    for (const file of data) {
      const name = file.slice(gateway.dir.path.length);
      if (where.includes('files') || (where.includes('state') && /state\.db/.test(name)))
        places.push([name, readFileSync(file)]);
    }
    const found: string[] = [];
    for (const value of values) {
      for (const form of formsOf(value)) {
        if (form.length < 8) continue;
        for (const [place, content] of places) if (content.includes(form)) found.push(`${place}: ${form.slice(0, 40)}`);
      }
    }
    return [...new Set(found)].slice(0, 20);
  }

  const received = (): string[] =>
    readFileSync(leakFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as string);
  const raw = (value: string) => [value];
  const LAUNCH_CREDENTIAL = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes, base64url

  it('the echo reached every server: every source, minted tokens and the launch credentials', () => {
    const values = received();
    for (const value of [ENV_CANARY, FILE_CANARY, EXEC_CANARY]) expect(values).toContain(value);
    expect(values.filter((v) => v.startsWith('Bearer ey')).length).toBeGreaterThan(1);
    expect(values.filter((v) => LAUNCH_CREDENTIAL.test(v)).length).toBe(2); // one per gateway process
    expect(gatewayOutput.join('')).toContain('downstream stderr');
    expect(files(join(gateway.dir.path, 'data')).some((f) => f.endsWith('-wal'))).toBe(true);
  });

  it('lists: no tool, prompt or resource definition, template or completion holds a value (HTTP and stdio)', () => {
    expect(leaks([ENV_CANARY, FILE_CANARY, EXEC_CANARY], raw, ['definitions'])).toEqual([]);
  });

  it('pin store: state.db and tools diff hold no value a definition echoed', () => {
    expect(leaks([ENV_CANARY, EXEC_CANARY], forms, ['state', 'cli'])).toEqual([]);
  });

  it('the launch credential (MCP_WARDEN_DOWNSTREAM_TOKEN) is redacted everywhere', () => {
    expect(
      leaks(
        received().filter((v) => LAUNCH_CREDENTIAL.test(v)),
        forms,
        ['agent', 'output', 'cli', 'files'],
      ),
    ).toEqual([]);
  });

  it('a value inside a longer encoded string (base64 at every alignment, base64url, hex, URL-encoded) is found', () => {
    expect(leaks([ENV_CANARY, FILE_CANARY, EXEC_CANARY], forms, ['agent', 'output', 'cli', 'files'])).toEqual([]);
  });

  it('the payload and the signature of every minted token are redacted each on its own', () => {
    const segments = (value: string) =>
      value
        .replace(/^Bearer /, '')
        .split('.')
        .slice(1);
    const tokens = received().filter((v) => v.startsWith('Bearer ey'));
    expect(leaks(tokens.flatMap(segments), forms, ['agent', 'output', 'cli', 'files'])).toEqual([]);
  });

  it('a value inside a longer encoded string is found in results and the audit export (alignments 1 and 2)', () => {
    const offset = (value: string) => {
      const bytes = Buffer.from(value);
      return [1, 2].flatMap((k) =>
        (['base64', 'base64url'] as const).map((encoding) =>
          Buffer.concat([Buffer.alloc(k, 0x6b), bytes])
            .toString(encoding)
            .slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6)),
        ),
      );
    };
    expect(leaks([ENV_CANARY, FILE_CANARY, EXEC_CANARY], offset, ['agent', 'cli'])).toEqual([]);
  });

  it('the audit record of a prompt holds exactly the prompt the agent got (cleaned before the outcome is recorded)', () => {
    const recorded = auditExport
      .trim()
      .split('\n')
      .filter((line) => line.includes('prompt text'))
      .map((line) => JSON.stringify(JSON.parse(line)));
    expect(recorded.length).toBeGreaterThanOrEqual(2);
    expect(promptsSeen.length).toBeGreaterThanOrEqual(2);
    for (const messages of promptsSeen) expect(JSON.stringify(messages)).not.toContain('\u202e');
    for (const line of recorded) {
      expect(line).not.toContain('\u202e');
      expect(promptsSeen.some((messages) => line.includes(JSON.stringify(messages)))).toBe(true);
    }
  });

  it('a relayed sampling request reaches both agents with every value in it redacted', () => {
    // Two servers called twice each by two agents: each call samples once.
    expect(sampled.length).toBeGreaterThanOrEqual(4);
    for (const params of sampled) {
      expect(params).toContain('sample ');
      expect(params).toContain('[REDACTED]');
    }
  });

  it('no form of any value any server received is anywhere the agent, a log or the data folder can show', () => {
    expect(leaks(received(), forms, ['agent', 'output', 'cli', 'files'])).toEqual([]);
  });
});
