// Over stdio, a request with no valid credential is refused before the session's servers are connected:
// a server process is spawned for the agent only once a request has been authenticated. Spawns are
// counted by a preloaded module that appends a line to a file in every process of the fixture server.
// The agent's token is signed in this process by the modules `token issue` runs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN, FIXTURE, writeConfig } from '../helpers/gateway.js';
import { makeSpawnCounter, type SpawnCounter, type TempDir } from '../helpers/process.js';
import { runCliAsync } from '../helpers/cli.js';
import { issueTokenInProcess } from '../helpers/stores.js';

const auth = { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {}, maxTokenLifetimeSeconds: 3600 };

describe('stdio: authenticate before connecting the session servers', () => {
  let dir: TempDir;
  let config: string;
  let spawns: SpawnCounter;
  let tokenFile: string;
  let client: Client;
  let exited: Promise<void>;

  const spawnCount = (): number => spawns.count();

  beforeAll(async () => {
    spawns = await makeSpawnCounter();
    const written = await writeConfig({
      auth,
      servers: {
        fx: { transport: 'stdio', command: 'node', args: ['--import', spawns.importArg, FIXTURE, '--stdio'] },
      },
    });
    dir = written.dir;
    config = written.file;
    expect((await runCliAsync(config, ['keys', 'init'])).code).toBe(0);
    tokenFile = join(dir.path, 'agent.token');
    writeFileSync(tokenFile, 'not-a-token\n');
    // Declaring roots keeps the session from taking over the probe's connection (the probe declared no
    // client features): the session's own connect is then a second spawn, which is what this file counts.
    client = new Client({ name: 'stdio-auth-first', version: '1' }, { capabilities: { roots: { listChanged: true } } });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'stdio', '--config', config, '--token-file', tokenFile],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      stderr: 'pipe',
    });
    // The gateway's stderr ends when it exits, after it has committed its audit log.
    exited = new Promise((resolve) => (transport.stderr as NodeJS.ReadableStream | null)?.on('end', resolve).resume());
    // initialize is answered after the gateway's start-up probe, which spawns the server once.
    await client.connect(transport);
  });

  afterAll(async () => {
    await client?.close();
    await dir?.cleanup();
    await spawns?.cleanup();
  });

  it('refuses calls, reads, completions and setLevel with a bad credential, spawning nothing', async () => {
    expect(spawnCount()).toBe(1);
    const refusals = await Promise.all([
      client.callTool({ name: 'fx__test_simple_text', arguments: {} }).catch((e: Error) => e),
      client.getPrompt({ name: 'fx__test_simple_prompt' }).catch((e: Error) => e),
      client.readResource({ uri: 'test://static-text' }).catch((e: Error) => e),
      client
        .complete({
          ref: { type: 'ref/prompt', name: 'fx__test_prompt_with_arguments' },
          argument: { name: 'arg1', value: 'p' },
        })
        .catch((e: Error) => e),
      client.setLoggingLevel('debug').catch((e: Error) => e),
    ]);
    expect(spawnCount()).toBe(1);
    for (const refusal of refusals) expect(String(refusal)).toContain('Authentication required');
  });

  it('refuses with no credential at all (an empty token file), spawning nothing', async () => {
    writeFileSync(tokenFile, '');
    expect(
      String(await client.callTool({ name: 'fx__test_simple_text', arguments: {} }).catch((e: Error) => e)),
    ).toContain('Authentication required');
    expect(String(await client.setLoggingLevel('info').catch((e: Error) => e))).toContain('Authentication required');
    expect(spawnCount()).toBe(1);
  });

  it('connects the server for the first authenticated request, and records setLevel', async () => {
    writeFileSync(tokenFile, `${await issueTokenInProcess(config, { subject: 'agent:desktop' })}\n`);
    const result = await client.callTool({ name: 'fx__test_simple_text', arguments: {} });
    expect(result.isError).not.toBe(true);
    expect(spawnCount()).toBe(2);
    await client.setLoggingLevel('warning');
    await client.close();
    await exited;
    const db = new Database(join(dir.path, 'data', 'audit.db'), { readonly: true });
    try {
      const levels = db
        .prepare("SELECT subject, body FROM entries WHERE type = 'logging.level' ORDER BY seq")
        .all() as { subject: string; body: string }[];
      expect(levels).toHaveLength(1);
      expect(levels[0]!.subject).toBe('agent:desktop');
      expect(JSON.parse(levels[0]!.body).data).toMatchObject({ level: 'warning', ingress: 'stdio' });
      const failures = db.prepare("SELECT count(*) AS n FROM entries WHERE type = 'auth.failure'").get() as {
        n: number;
      };
      expect(failures.n).toBe(7);
    } finally {
      db.close();
    }
  });
});
