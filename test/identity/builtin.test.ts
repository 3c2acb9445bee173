// The built-in issuer end to end: keys init/rotate, token issue (and delegation) through the real CLI,
// tokens used against the real gateway over HTTP and stdio. One `serve` gateway for the file (with the
// fixture over stdio and a second fixture over HTTP, whose request headers it echoes); the stdio fixture
// is one process per gateway (`shared`), since no test here is about a session's own downstream
// connection. Where a test only needs some token, it is signed in this process as `token issue` signs it.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { importJWK, SignJWT, type JWK } from 'jose';
import { BIN, FIXTURE, fixtureServer, startGateway, writeConfig, type RunningGateway } from '../helpers/gateway.js';
import { spawnReady, type ReadyProcess, type TempDir } from '../helpers/process.js';
import { issueTokenAsync, runCliAsync } from '../helpers/cli.js';
import { issueTokenInProcess } from '../helpers/stores.js';

const RESOURCE = 'http://gateway.test/mcp';
const ISSUER = 'urn:mcp-warden:builtin';

const cli = runCliAsync;
const issue = issueTokenAsync;

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'builtin-test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return client;
}

/** Signs claims with the gateway's own active key, read from the data folder: for tokens the CLI refuses to make. */
async function signWithGatewayKey(dataDir: string, claims: Record<string, unknown>): Promise<string> {
  const file = JSON.parse(readFileSync(join(dataDir, 'keys', 'signing-keys.json'), 'utf8')) as {
    keys: { kid: string; retiredAt?: number; privateJwk: JWK }[];
  };
  const active = file.keys.filter((k) => k.retiredAt === undefined).at(-1)!;
  const key = await importJWK(active.privateJwk, 'EdDSA');
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: active.kid }).sign(key);
}

const auth = { mode: 'jwt', resource: RESOURCE, builtin: {}, maxTokenLifetimeSeconds: 3600 };

let gateway: RunningGateway;
let web: ReadyProcess;

beforeAll(async () => {
  web = await spawnReady(process.execPath, [FIXTURE, '--http', '--port', '0'], {
    readyPattern: /^fixture listening on (http:\/\/\S+)$/,
  });
  gateway = await startGateway({
    auth,
    servers: { fx: fixtureServer({ shared: true }), web: { transport: 'http', url: web.url } },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await web?.stop();
});

describe('keys and tokens of the built-in issuer', () => {
  let config: string;
  let dataDir: string;

  beforeAll(() => {
    config = gateway.configFile;
    dataDir = join(gateway.dir.path, 'data');
  });

  it('created a signing key on first start, readable by the owner only', async () => {
    const stat = statSync(join(dataDir, 'keys', 'signing-keys.json'));
    expect(stat.mode & 0o777).toBe(0o600);
    expect(gateway.process.stderr()).toContain('created the gateway signing key');
    const again = await cli(config, ['keys', 'init']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
  });

  it('serves its public keys, and only public parts', async () => {
    const jwks = (await (await fetch(`${gateway.origin}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('issues tokens the gateway accepts; task grants narrow what the agent sees', async () => {
    const token = await issue(config, [
      '--sub',
      'agent:triage',
      '--task-purpose',
      'triage',
      '--grant',
      'fx__test_simple_text',
      '--ttl',
      '10m',
    ]);
    const client = await connect(gateway.url, token);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(['fx__test_simple_text']);
      const hidden = await client.callTool({ name: 'fx__fixture_pid', arguments: {} }).catch((e: Error) => e);
      const missing = await client.callTool({ name: 'fx__no_such_tool', arguments: {} }).catch((e: Error) => e);
      expect(String(hidden)).toContain('Unknown tool: fx__fixture_pid');
      expect(String(missing)).toContain('Unknown tool: fx__no_such_tool');
      expect((hidden as { code?: number }).code).toBe((missing as { code?: number }).code);
    } finally {
      await client.close();
    }
  });

  it('rotation keeps the old key published, so tokens signed before still work', async () => {
    const before = await issue(config, ['--sub', 'agent:before']);
    const rotated = await cli(config, ['keys', 'rotate']);
    expect(rotated.code).toBe(0);
    const after = await issue(config, ['--sub', 'agent:after']);
    const jwks = (await (await fetch(`${gateway.origin}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(jwks.keys).toHaveLength(2);
    for (const token of [before, after]) {
      const client = await connect(gateway.url, token);
      await client.ping();
      await client.close();
    }
    expect((await cli(config, ['keys', 'list'])).stdout).toMatch(/retired .*\n.*active/s);
  });

  it('never forwards the agent token downstream', async () => {
    const token = await issueTokenInProcess(config, { subject: 'agent:leak-check' });
    const client = await connect(gateway.url, token);
    try {
      const result = await client.callTool({ name: 'web__fixture_request_headers', arguments: {} });
      const headers = (result.structuredContent as { headers: Record<string, string> }).headers;
      expect(JSON.stringify(headers)).not.toContain(token);
      expect(headers.authorization).toBeUndefined();
    } finally {
      await client.close();
    }
  });
});

describe('delegation', () => {
  let dir: TempDir;
  let config: string;
  let parent: string;

  beforeAll(async () => {
    const written = await writeConfig({ auth, servers: { fx: fixtureServer({ shared: true }) } });
    dir = written.dir;
    config = written.file;
    expect((await cli(config, ['keys', 'init'])).code).toBe(0);
    parent = await issue(config, ['--sub', 'agent:lead', '--grant', 'fx__*', '--ttl', '10m']);
  });
  afterAll(async () => dir?.cleanup());

  it('narrows: a subset of grants and an earlier expiry, with the chain in act', async () => {
    const child = await issue(config, [
      '--sub',
      'agent:helper',
      '--parent',
      parent,
      '--grant',
      'fx__test_*',
      '--ttl',
      '5m',
    ]);
    const claims = JSON.parse(Buffer.from(child.split('.')[1]!, 'base64url').toString()) as {
      act: { sub: string };
      task: { grants: string[] };
    };
    expect(claims.act.sub).toBe('agent:lead');
    expect(claims.task.grants).toEqual(['fx__test_*']);
  });

  it.each([
    ['widens grants', ['--grant', '*', '--ttl', '1m'], 'widens grant'],
    ['reaches another server', ['--grant', 'other__*', '--ttl', '1m'], 'widens grant'],
    ['outlives the parent', ['--ttl', '30m'], 'outlives its parent'],
  ])('refuses at issue time a delegation that %s', async (_name, extra, message) => {
    const result = await cli(config, ['token', 'issue', '--sub', 'agent:helper', '--parent', parent, ...extra]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('refuses at verification time a token that widens or outlives its parent', async () => {
    // Signed with the file's gateway's own key: no `token issue` would make these.
    const keysOf = join(gateway.dir.path, 'data');
    const now = Math.floor(Date.now() / 1000);
    const base = { iss: ISSUER, aud: RESOURCE, sub: 'agent:helper', iat: now, jti: 'x' };
    const widened = await signWithGatewayKey(keysOf, {
      ...base,
      exp: now + 60,
      task: { id: 't1', grants: ['*'] },
      act: { sub: 'agent:lead', exp: now + 600, grants: ['fx__*'] },
    });
    const outlives = await signWithGatewayKey(keysOf, {
      ...base,
      exp: now + 900,
      task: { id: 't1', grants: ['fx__*'] },
      act: { sub: 'agent:lead', exp: now + 600, grants: ['fx__*'] },
    });
    for (const token of [widened, outlives]) {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
        }),
      });
      expect(response.status).toBe(401);
    }
  });
});

describe('stdio identity', () => {
  let dir: TempDir;
  let config: string;

  beforeAll(async () => {
    const written = await writeConfig({ auth, servers: { fx: fixtureServer({ shared: true }) } });
    dir = written.dir;
    config = written.file;
    expect((await cli(config, ['keys', 'init'])).code).toBe(0);
  });
  afterAll(async () => dir?.cleanup());

  function stdioClient(args: string[], env: Record<string, string>) {
    const client = new Client({ name: 'stdio-identity', version: '1' });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'stdio', '--config', config, ...args],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stderr: 'pipe',
    });
    return { client, transport };
  }

  it('refuses to start without a token', () => {
    const result = spawnSync(process.execPath, [BIN, 'stdio', '--config', config], {
      encoding: 'utf8',
      input: '',
      timeout: 60_000,
      env: { PATH: process.env.PATH },
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('MCP_WARDEN_TOKEN');
  });

  it('verifies MCP_WARDEN_TOKEN like an HTTP token', async () => {
    const { client, transport } = stdioClient([], {
      MCP_WARDEN_TOKEN: await issueTokenInProcess(config, { subject: 'agent:desktop' }),
    });
    await client.connect(transport);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
  });

  it('re-reads --token-file: an expired token is refused with how to renew, a fresh one works at once', async () => {
    const tokenFile = join(dir.path, 'agent.token');
    const now = Math.floor(Date.now() / 1000);
    const expired = await signWithGatewayKey(join(dir.path, 'data'), {
      iss: ISSUER,
      aud: RESOURCE,
      sub: 'agent:desktop',
      iat: now - 900,
      exp: now - 300,
    });
    writeFileSync(tokenFile, `${expired}\n`);
    const { client, transport } = stdioClient(['--token-file', tokenFile], {});
    await client.connect(transport);
    try {
      const refused = await client.listTools().catch((e: Error) => e);
      expect(String(refused)).toMatch(
        /Authentication required: the token is invalid or expired\. Write a fresh token to .*agent\.token \(mcp-warden token issue/,
      );
      writeFileSync(tokenFile, `${await issue(config, ['--sub', 'agent:desktop'])}\n`);
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it('prints a Claude Desktop entry that uses a token file', async () => {
    const result = await cli(config, ['token', 'issue', '--sub', 'agent:desktop', '--claude-desktop']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('"mcpServers"');
    expect(result.stderr).toContain('--token-file');
    expect(result.stdout.trim().split('.')).toHaveLength(3);
  });
});
