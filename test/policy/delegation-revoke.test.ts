// Revocation follows the delegation chain (RFC 8693 `act`): revoking a subject, a task or a token id
// refuses every token delegated from it, from its next call, on open sessions and new ones, in every
// gateway process sharing the data folder. Real `serve` and `stdio` processes, the real CLI for the
// revocations, real SQLite; the tokens are signed in this process by the modules `token issue` runs. The
// second process is one `stdio` gateway for the file, on a --token-file each test rewrites with its own
// grandchild token (the file is re-read when it changes, as a token refresher would rotate it).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { BIN, NOTES, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { runCliAsync } from '../helpers/cli.js';
import { issueTokenInProcess } from '../helpers/stores.js';

const RESOURCE = 'http://gateway.test/mcp';
const auth = { mode: 'jwt', resource: RESOURCE, builtin: {}, maxTokenLifetimeSeconds: 3600 };
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: notes-read, effect: allow, tools: ["notes__*"] }
`;

async function connectHttp(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'delegation-test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return client;
}

async function connectStdio(config: string, tokenFile: string): Promise<Client> {
  const client = new Client({ name: 'delegation-test-stdio', version: '1' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'stdio', '--config', config, '--token-file', tokenFile],
      stderr: 'pipe',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    }),
  );
  return client;
}

/** Whether a call to a granted tool goes through; the refusal's code and message when it does not. */
async function tryCall(client: Client): Promise<{ ok: true } | { ok: false; code?: number; message: string }> {
  try {
    await client.callTool({ name: 'notes__list_notes', arguments: {} });
    return { ok: true };
  } catch (error) {
    return { ok: false, code: (error as { code?: number }).code, message: String((error as Error).message) };
  }
}

const REFUSED = { ok: false, code: -32600, message: expect.stringContaining('Authentication required') as unknown };

function claimsOf(token: string): { jti: string; task?: { id: string } } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as {
    jti: string;
    task?: { id: string };
  };
}

describe('revocation through delegation chains', () => {
  let gateway: RunningGateway;
  let policyDir: TempDir;
  let config: string;
  let tokenFile: string;
  let stdio: Client;

  beforeAll(async () => {
    policyDir = await makeTempDir('warden-delegation');
    const policyFile = join(policyDir.path, 'policy.yaml');
    await writeFile(policyFile, POLICY);
    await mkdir(join(policyDir.path, 'notes'));
    gateway = await startGateway({
      auth,
      policy: { files: [policyFile] },
      servers: {
        // One notes process per gateway (`shared`), not one per agent session: revocation is decided before
        // any downstream call, and each test opens several sessions.
        notes: {
          transport: 'stdio',
          command: 'node',
          args: [NOTES, '--dir', join(policyDir.path, 'notes')],
          shared: true,
        },
      },
    });
    config = gateway.configFile;
    tokenFile = join(policyDir.path, 'agent.token');
    await writeFile(tokenFile, '');
    stdio = await connectStdio(config, tokenFile);
  });
  afterAll(async () => {
    await stdio?.close();
    await gateway?.stop();
    await policyDir?.cleanup();
  });

  /**
   * A parent token, a child delegated from it and a grandchild from the child (each living shorter);
   * sessions for the descendants: two over HTTP (closed by the test) and the stdio one, now on the grandchild's token.
   */
  async function chain(
    name: string,
  ): Promise<{ parent: string; child: string; grandchild: string; sessions: Client[]; clients: Client[] }> {
    const parent = await issueTokenInProcess(config, { subject: `agent:${name}-parent`, grants: ['notes__*'] });
    const child = await issueTokenInProcess(config, {
      subject: `agent:${name}-child`,
      grants: ['notes__list*'],
      ttlSeconds: 600,
      parent,
    });
    const grandchild = await issueTokenInProcess(config, {
      subject: `agent:${name}-grandchild`,
      ttlSeconds: 300,
      parent: child,
    });
    await writeFile(tokenFile, `${grandchild}\n`);
    const clients = [await connectHttp(gateway.url, child), await connectHttp(gateway.url, grandchild)];
    const sessions = [...clients, stdio];
    for (const client of sessions) expect(await tryCall(client)).toEqual({ ok: true });
    return { parent, child, grandchild, sessions, clients };
  }

  async function expectRefused(tokens: string[], clients: Client[]): Promise<void> {
    // open sessions (HTTP in this gateway, stdio in a second process) refuse from the next call
    for (const client of clients) expect(await tryCall(client)).toMatchObject(REFUSED);
    // and no new session can use the tokens
    for (const token of tokens) {
      const fresh = await connectHttp(gateway.url, token).catch((error: unknown) => error as Error);
      if (fresh instanceof Client) {
        expect(await tryCall(fresh)).toMatchObject(REFUSED);
        await fresh.close();
      } else {
        expect(String(fresh.message)).toMatch(/401|Authentication required|Unauthorized/);
      }
    }
  }

  it('agent revoke of the parent subject refuses its delegates and their delegates', async () => {
    const { child, grandchild, sessions, clients } = await chain('subj');
    try {
      expect((await runCliAsync(config, ['agent', 'revoke', 'agent:subj-parent'])).code).toBe(0);
      await expectRefused([child, grandchild], sessions);
    } finally {
      for (const client of clients) await client.close();
    }
  });

  it('token revoke of the parent token id refuses the parent and every delegate', async () => {
    const { parent, child, grandchild, sessions, clients } = await chain('tok');
    const parentClient = await connectHttp(gateway.url, parent);
    try {
      const revoked = await runCliAsync(config, ['token', 'revoke', claimsOf(parent).jti]);
      expect(revoked.code, revoked.stderr).toBe(0);
      await expectRefused([parent, child, grandchild], [parentClient, ...sessions]);
    } finally {
      for (const client of [parentClient, ...clients]) await client.close();
    }
  });

  it("task revoke of the parent's task refuses the delegates, whose own tasks differ", async () => {
    const { parent, child, grandchild, sessions, clients } = await chain('task');
    const parentClient = await connectHttp(gateway.url, parent);
    try {
      expect(await tryCall(parentClient)).toEqual({ ok: true }); // the gateway records the parent's task
      const taskId = claimsOf(parent).task!.id;
      expect(claimsOf(child).task!.id).not.toBe(taskId);
      const revoked = await runCliAsync(config, ['task', 'revoke', taskId]);
      expect(revoked.code, revoked.stderr).toBe(0);
      await expectRefused([child, grandchild], sessions);
    } finally {
      for (const client of [parentClient, ...clients]) await client.close();
    }
  });

  it("task revoke of a parent's task no gateway has seen yet refuses the delegates and the parent", async () => {
    // The parent never called, so no gateway holds a row for its task: the revocation is recorded by id.
    const { parent, child, grandchild, sessions, clients } = await chain('unseen');
    const taskId = claimsOf(parent).task!.id;
    const revoked = await runCliAsync(config, ['task', 'revoke', taskId]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('no gateway has seen it yet');
    const parentClient = await connectHttp(gateway.url, parent);
    try {
      await expectRefused([parent, child, grandchild], [parentClient, ...sessions]);
      // Once recorded, a second revoke of the same id says so instead of recording it again.
      const again = await runCliAsync(config, ['task', 'revoke', taskId]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already revoked');
    } finally {
      for (const client of [parentClient, ...clients]) await client.close();
    }
  });

  it('a delegate of a parent token issued after the revocation works', async () => {
    expect((await runCliAsync(config, ['agent', 'revoke', 'agent:later-parent'])).code).toBe(0);
    // Token times are whole seconds, so "issued after" means a later second than the revocation's:
    // wait for the clock to reach it instead of a fixed 1.1 s sleep.
    const revokedBy = Date.now();
    await waitFor(
      () => Math.floor(Date.now() / 1000) > Math.floor(revokedBy / 1000),
      'the second after the revocation',
      5_000,
    );
    const parent = await issueTokenInProcess(config, { subject: 'agent:later-parent', grants: ['notes__*'] });
    const child = await issueTokenInProcess(config, { subject: 'agent:later-child', ttlSeconds: 600, parent });
    const client = await connectHttp(gateway.url, child);
    try {
      expect(await tryCall(client)).toEqual({ ok: true });
    } finally {
      await client.close();
    }
  });
});
