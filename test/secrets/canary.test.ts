// A canary secret through every source (env, file, exec, minted) and every target (header, argument,
// spawn env), end to end with the real gateway and real fixture processes: the downstream receives each
// value, and no encoding of it reaches the agent, a log line or the audit database.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as SdkClient } from '@modelcontextprotocol/sdk/client/index.js';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureServer, launchedFixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, waitFor, waitForExit, type TempDir } from '../helpers/process.js';

const canary = (label: string) => `${label}-canary-${randomBytes(12).toString('hex')}`;
const ENV_CANARY = canary('env');
const FILE_CANARY = canary('file');
const EXEC_CANARY = canary('exec');

function forms(value: string): string[] {
  const b = Buffer.from(value);
  return [
    value,
    b.toString('base64'),
    b.toString('base64').replace(/=+$/, ''),
    b.toString('base64url'),
    b.toString('hex'),
    encodeURIComponent(value),
  ];
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('secrets never visible', () => {
  let gateway: RunningGateway;
  let client: Client;
  let side: TempDir;
  let leakFile: string;
  let perCallFile: string;
  const agentBytes: string[] = [];
  const gatewayLog: string[] = [];
  const results: unknown[] = [];

  beforeAll(async () => {
    side = await makeTempDir('warden-secrets');
    const secretFile = join(side.path, 'secret.txt');
    leakFile = join(side.path, 'received.jsonl');
    perCallFile = join(side.path, 'per-call.jsonl');
    await writeFile(secretFile, `${FILE_CANARY}\n`);
    process.env.WARDEN_TEST_ENV_CANARY = ENV_CANARY;
    gateway = await startGateway({
      secrets: {
        envs: { source: 'env', name: 'WARDEN_TEST_ENV_CANARY' },
        files: { source: 'file', path: secretFile },
        execs: {
          source: 'exec',
          command: [process.execPath, '-e', `process.stdout.write(${JSON.stringify(`  ${EXEC_CANARY}\n`)})`],
          ttlSeconds: 60,
        },
        minted: { source: 'minted', audience: 'fixture-aud', ttlSeconds: 60 },
        missing: { source: 'env', name: 'WARDEN_TEST_NOT_SET' },
      },
      servers: {
        web: launchedFixtureServer(
          {
            secrets: {
              headers: { Authorization: 'Bearer {{secret:minted}}', 'X-Canary-Env': '{{secret:envs}}' },
              arguments: { token: 'files' },
            },
          },
          { FIXTURE_LEAK_FILE: leakFile, FIXTURE_SCHEME: 'web' },
        ),
        local: fixtureServer({
          env: { FIXTURE_LEAK_FILE: leakFile, FIXTURE_SCHEME: 'local' },
          secrets: { env: { WARDEN_CANARY_EXEC: 'execs' }, arguments: { token: 'execs' } },
        }),
        percall: fixtureServer({
          env: { FIXTURE_LEAK_FILE: perCallFile, FIXTURE_SCHEME: 'percall' },
          secrets: { env: { WARDEN_CANARY_FILE: 'files' }, envMode: 'per-call' },
        }),
        broken: fixtureServer({ env: { FIXTURE_SCHEME: 'broken' }, secrets: { arguments: { token: 'missing' } } }),
      },
    });
    gateway.process.child.stderr.on('data', (chunk: Buffer) => gatewayLog.push(chunk.toString('utf8')));
    client = new SdkClient({ name: 'warden-test', version: '1.0.0' });
    const teeFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      void response
        .clone()
        .text()
        .then(
          (text) => agentBytes.push(text),
          () => undefined,
        );
      return response;
    };
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { fetch: teeFetch }));
    client.fallbackNotificationHandler = async (notification) => void agentBytes.push(JSON.stringify(notification));
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
    await side?.cleanup();
    delete process.env.WARDEN_TEST_ENV_CANARY;
  });

  it('hides injected arguments from the tool schemas', async () => {
    const { tools } = await client.listTools();
    for (const name of ['web__fixture_leak', 'local__fixture_leak']) {
      const tool = tools.find((t) => t.name === name)!;
      expect(Object.keys(tool.inputSchema.properties ?? {})).toEqual(['fail']);
    }
  });

  it('injects every source into every target and scrubs results, errors, progress and log messages', async () => {
    for (const server of ['web', 'local']) {
      const progress: unknown[] = [];
      results.push(
        await client.callTool({ name: `${server}__fixture_leak`, arguments: {} }, undefined, {
          onprogress: (p) => void progress.push(p),
        }),
      );
      results.push(
        await client
          .callTool({ name: `${server}__fixture_leak`, arguments: { fail: true } })
          .catch((error: Error) => error.message),
      );
      results.push(await client.callTool({ name: `${server}__fixture_leak`, arguments: {} }));
      results.push(progress);
    }
    expect(JSON.stringify(results)).toContain('[REDACTED]');
    const received = readFileSync(leakFile, 'utf8')
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            headers: Record<string, string>;
            env: Record<string, string>;
            args: Record<string, string>;
          },
      );
    expect(received).toHaveLength(6);
    const web = received.filter((r) => r.headers['x-canary-env'] !== undefined);
    const local = received.filter((r) => r.env.WARDEN_CANARY_EXEC !== undefined);
    expect(web).toHaveLength(3);
    expect(local).toHaveLength(3);
    for (const r of web) expect([r.headers['x-canary-env'], r.args.token]).toEqual([ENV_CANARY, FILE_CANARY]);
    for (const r of local) expect([r.env.WARDEN_CANARY_EXEC, r.args.token]).toEqual([EXEC_CANARY, EXEC_CANARY]);
  });

  it('per-call env: each call runs in a fresh process carrying the secret, stopped after the call', async () => {
    for (let i = 0; i < 2; i++) results.push(await client.callTool({ name: 'percall__fixture_leak', arguments: {} }));
    const received = readFileSync(perCallFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { pid: number; env: Record<string, string> });
    expect(received.map((r) => r.env.WARDEN_CANARY_FILE)).toEqual([FILE_CANARY, FILE_CANARY]);
    expect(new Set(received.map((r) => r.pid)).size).toBe(2);
    for (const r of received) await waitForExit(r.pid);
    // The long-lived process that answers lists never had the secret.
    const pid = (await client.callTool({ name: 'percall__fixture_pid', arguments: {} })).structuredContent as {
      pid: number;
    };
    expect(received.map((r) => r.pid)).not.toContain(pid.pid);
  });

  it('mints a credential per call that the downstream can verify, only for its audience and lifetime', async () => {
    const tokens = readFileSync(leakFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { headers: Record<string, string> }).headers.authorization)
      .filter((h): h is string => h !== undefined)
      .map((h) => h.replace(/^Bearer /, ''));
    expect(tokens).toHaveLength(3);
    const jwks = createLocalJWKSet(JSON.parse(readFileSync(join(gateway.dir.path, 'data/keys/jwks.json'), 'utf8')));
    const jtis = new Set<string>();
    for (const token of tokens) {
      const { payload } = await jwtVerify(token, jwks, { audience: 'fixture-aud', algorithms: ['EdDSA'] });
      expect(payload).toMatchObject({
        sub: 'test-agent',
        tool: 'fixture_leak',
        act: { sub: 'urn:mcp-warden:gateway' },
      });
      expect(payload.exp! - payload.iat!).toBe(60);
      jtis.add(payload.jti!);
      await expect(jwtVerify(token, jwks, { audience: 'another-server' })).rejects.toThrow(/aud/);
      await expect(
        jwtVerify(token, jwks, { audience: 'fixture-aud', currentDate: new Date((decodeJwt(token).exp! + 1) * 1000) }),
      ).rejects.toThrow(/exp/);
    }
    expect(jtis.size).toBe(3);
    CANARIES.push(...tokens);
  });

  it('refuses an agent-supplied value for an injected argument, and a call whose secret is unavailable', async () => {
    await expect(client.callTool({ name: 'web__fixture_leak', arguments: { token: 'mine' } })).rejects.toThrow(
      /set by the gateway/,
    );
    const error = await client.callTool({ name: 'broken__fixture_leak', arguments: {} }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/^MCP error -32603: Secret unavailable: missing; nothing was forwarded$/);
    // Still serving.
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it('leaves no encoding of any value in agent bytes, log lines or the audit database (WAL included)', async () => {
    // Everything the calls above produced has arrived: the fixture's stderr relayed into the log, and the
    // audit rows (with their HMAC digests) in the WAL. Waited for, not slept on.
    const data = join(gateway.dir.path, 'data');
    await waitFor(
      () =>
        gatewayLog.join('').includes('downstream stderr') &&
        files(data).some((f) => f.endsWith('-wal') && readFileSync(f).includes('hmac-sha256:')),
      'the log and the audit WAL to hold the calls',
    );
    const agent = agentBytes.join('\n') + JSON.stringify(results);
    const log = gatewayLog.join('');
    expect(log).toContain('downstream stderr');
    const stored = files(data).filter((f) => /audit/.test(f));
    expect(stored.some((f) => f.endsWith('-wal'))).toBe(true);
    const bytes = stored.map((f) => readFileSync(f));
    expect(bytes.some((b) => b.includes('hmac-sha256:'))).toBe(true);
    for (const value of [ENV_CANARY, FILE_CANARY, EXEC_CANARY, ...CANARIES]) {
      for (const form of forms(value)) {
        expect(agent.includes(form), `agent saw ${form.slice(0, 24)}`).toBe(false);
        expect(log.includes(form), `log has ${form.slice(0, 24)}`).toBe(false);
        for (const b of bytes) expect(b.includes(form), `audit has ${form.slice(0, 24)}`).toBe(false);
      }
    }
  });
});

const CANARIES: string[] = [];
