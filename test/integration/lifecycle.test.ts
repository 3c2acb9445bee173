// Process lifecycle through the real gateway, checked with PIDs: one downstream process per agent session,
// ended with the session; nothing outlives the gateway (SIGTERM to `serve`, the host closing `stdio`).
// And the names the gateway refuses: invalid downstream names, collisions between unprefixed servers.
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, pidOf } from '../helpers/agent.js';
import {
  BIN,
  connectHttp,
  connectStdio,
  fixtureServer,
  health,
  launchedFixtureServer,
  startGateway,
  writeConfig,
  type RunningGateway,
} from '../helpers/gateway.js';
import { isAlive, runToExit, waitFor, waitForExit } from '../helpers/process.js';

// One gateway for every test that can share it: the session test, the names and resources tests (its fx
// also lists the fixture's bad names, and up, the same fixture over HTTP, lists fx's resource URIs too),
// and then the SIGTERM test, which ends it: that one runs last.
describe('one gateway: sessions, names, shared resource URIs, and none outlives it', () => {
  let gateway: RunningGateway;
  beforeAll(async () => {
    gateway = await startGateway({
      servers: { fx: fixtureServer({ env: { FIXTURE_BAD_NAMES: '1' } }), up: launchedFixtureServer() },
    });
  });
  afterAll(async () => gateway?.stop());

  it('gives each session its own stdio process and ends it with the session (DELETE)', async () => {
    const a = await connectHttp(gateway.url);
    const b = await connectHttp(gateway.url);
    const [pidA, pidB] = await Promise.all([pidOf(a.client, 'fx'), pidOf(b.client, 'fx')]);
    expect(pidA).not.toBe(pidB);
    // The launched HTTP server is one process; each session has its own MCP session on it.
    const launched = (await health(gateway)).servers.up?.launch?.pid;
    expect(await pidOf(a.client, 'up')).toBe(launched);
    expect(await pidOf(b.client, 'up')).toBe(launched);
    expect((await health(gateway)).sessions).toBe(2);

    await a.transport.terminateSession();
    await waitForExit(pidA);
    expect(isAlive(pidB)).toBe(true);
    expect(await pidOf(b.client, 'fx')).toBe(pidB);
    expect((await health(gateway)).sessions).toBe(1);
    await b.transport.terminateSession();
    await waitForExit(pidB);
    expect((await health(gateway)).sessions).toBe(0);
    await Promise.all([a.client.close(), b.client.close()]);
  });

  it('does not expose downstream tools with invalid or look-alike names, and logs them', async () => {
    const { client } = await connectHttp(gateway.url);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('fx__fixture_pid');
    expect(names.every((name) => /^[A-Za-z0-9_.-]+$/.test(name))).toBe(true);
    expect(names.filter((name) => name.startsWith('fx__bad') || name.startsWith('fx__fixture_p\u0456d'))).toEqual([]);
    for (const name of ['fx__bad name', 'fx__fixture_p\u0456d']) {
      await expect(call(client, name)).rejects.toEqual(
        expect.objectContaining({
          code: ErrorCode.InvalidParams,
          message: `MCP error -32602: Unknown tool: ${name}`,
        }),
      );
    }
    expect(await pidOf(client, 'fx')).toBeGreaterThan(0);
    // Logs are written asynchronously (pino, sync: false): wait for the lines rather than read stderr at once.
    await waitFor(
      () => /tool name \\"bad name\\" is not allowed/.test(gateway.process.stderr()),
      'the bad-name log line',
    );
    await waitFor(
      () => /tool name \\"fixture_p(\u0456|\\\\u0456)d\\" is not allowed/.test(gateway.process.stderr()),
      'the homoglyph log line',
    );
    await client.close();
  });

  it('the same server over stdio and over HTTP: both start, the first in config order serves the shared URIs, and the log says so', async () => {
    const { client } = await connectHttp(gateway.url);
    const fxPid = await pidOf(client, 'fx');
    expect(await pidOf(client, 'up')).toBe((await health(gateway)).servers.up?.launch?.pid);
    const uris = (await client.listResources()).resources.map((r) => r.uri);
    expect(uris).toContain('test://static-text');
    expect(new Set(uris).size).toBe(uris.length);
    const read = await client.readResource({ uri: 'test://static-text' });
    expect(read.contents[0]?.uri).toBe('test://static-text');
    expect(fxPid).toBeGreaterThan(0);
    await waitFor(
      () =>
        /resource test:\/\/static-text is also listed by fx, which comes first in the config: reads go to fx, and up's is not offered/.test(
          gateway.process.stderr(),
        ),
      'the resource collision log line',
    );
    await client.close();
  });

  it('SIGTERM to serve: the gateway, its stdio children and its launched HTTP child all exit', async () => {
    const sessions = [await connectHttp(gateway.url), await connectHttp(gateway.url)];
    const stdioPids = await Promise.all(sessions.map((s) => pidOf(s.client, 'fx')));
    const launched = await pidOf(sessions[0]!.client, 'up');
    const pids = [gateway.process.child.pid!, ...stdioPids, launched];
    expect(pids.every(isAlive)).toBe(true);

    gateway.process.child.kill('SIGTERM');
    const exit = await gateway.process.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    for (const pid of pids) await waitForExit(pid);
    // Agents may still hold their clients; the gateway did not wait for them.
    await Promise.all(sessions.map((s) => s.client.close()));
  });
});

describe('no child outlives the gateway', () => {
  it('stdio ingress: the host closing the gateway ends it and all its children', async () => {
    const { dir, file } = await writeConfig({
      servers: { fx: fixtureServer(), up: launchedFixtureServer({}, { FIXTURE_SCHEME: 'up' }) },
    });
    try {
      const { client, transport } = await connectStdio(file);
      const gatewayPid = transport.pid!;
      const pids = [gatewayPid, await pidOf(client, 'fx'), await pidOf(client, 'up')];
      expect(pids.every(isAlive)).toBe(true);
      await client.close();
      for (const pid of pids) await waitForExit(pid);
    } finally {
      await dir.cleanup();
    }
  });
});

describe('tool names', () => {
  it('serve exits with code 2 naming the collision when two unprefixed servers expose the same name', async () => {
    const { dir, file } = await writeConfig({
      servers: {
        one: fixtureServer({ prefix: false }),
        two: fixtureServer({ prefix: false, env: { FIXTURE_SCHEME: 'two' } }),
      },
    });
    try {
      const result = await runToExit(process.execPath, [BIN, 'serve', '--config', file, '--port', '0']);
      expect(result.code).toBe(2);
      expect(result.stdout).not.toMatch(/listening/);
      expect(result.stderr).toMatch(/name collisions between servers/);
      expect(result.stderr).toMatch(/two: tool test_simple_text is also exposed by one/);
    } finally {
      await dir.cleanup();
    }
  });
});
