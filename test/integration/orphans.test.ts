// No process of a server outlives the gateway, whatever the server does: a stdio server that ignores
// the end of stdin and SIGTERM, and starts a grandchild that ignores SIGTERM too, is stopped with its
// whole process group when its session ends and when the gateway stops (SIGTERM to `serve`); a breaker
// probe under way when the gateway stops is stopped with it.
//
// Whatever happens to a test (a failed assertion, a gateway killed after its stop's grace under load), it
// leaves nothing behind: every process it starts (the gateway, the servers, their grandchildren) carries
// the test's marker in its environment, and when the test ends whatever still carries it is killed with
// SIGKILL, with its process group; after the file, none of its processes may be left.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { call, textOf } from '../helpers/agent.js';
import { ROOT, connectHttp, startGateway } from '../helpers/gateway.js';
import { isAlive, waitFor, waitForExit } from '../helpers/process.js';

const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');
const MARKER = 'MCP_WARDEN_ORPHANS_TEST';
const RUN = `${process.pid}-${Date.now()}`;
let tests = 0;

/** The fields of /proc/PID/stat after the command: [state, ppid, pgrp, …] (undefined once gone). */
function statOf(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Live processes (not zombies) whose environment has MARKER starting with `prefix`. */
function marked(prefix: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      if (environ.some((v) => v.startsWith(`${MARKER}=${prefix}`)) && statOf(name)?.[0] !== 'Z')
        pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return pids;
}

/** SIGKILL to every process marked `prefix` and to its process group (never this test runner's own). */
async function killMarked(prefix: string): Promise<void> {
  const ownGroup = statOf(process.pid)?.[2];
  for (const pid of marked(prefix)) {
    const group = statOf(pid)?.[2];
    for (const target of group !== undefined && group !== ownGroup ? [-Number(group), pid] : [pid])
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // already gone
      }
  }
  await waitFor(() => marked(prefix).length === 0, `the processes marked ${prefix} to be gone`);
}

/** A marker for this test's processes, all killed when the test ends; the environment that carries it. */
function markTest(context: TestContext): Record<string, string> {
  tests += 1;
  const marker = `${RUN}-${tests}:`;
  context.onTestFinished(() => killMarked(marker));
  return { [MARKER]: marker };
}

afterAll(async () => {
  const left = marked(RUN);
  await killMarked(RUN);
  expect(left, 'processes this file started, still alive after its tests').toEqual([]);
});

/** The gateway (with `env`) serving one stubborn stdio server (with `env` too). */
function startStubborn(env: Record<string, string>) {
  return startGateway(
    { servers: { bad: { transport: 'stdio', command: 'node', args: [FAULTY, '--stubborn'], env } } },
    [],
    env,
  );
}

/** Live child processes of `parent` whose command line contains `marker` (from /proc). */
function childrenOf(parent: number, marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function pidsOf(
  client: Awaited<ReturnType<typeof connectHttp>>['client'],
): Promise<{ pid: number; grandchild: number }> {
  return JSON.parse(textOf(await call(client, 'bad__pids'))) as { pid: number; grandchild: number };
}

// Each test has a gateway of its own and spends most of its time waiting: in the stop's grace periods
// (2 s after EOF, 2 s after SIGTERM) or on a connect timeout. Both blocks are concurrent, so all three
// tests wait side by side (vitest runs consecutive concurrent suites together).
describe.concurrent('a server that ignores EOF and SIGTERM and starts a grandchild', () => {
  it('is stopped with its grandchild when its session ends', async (context) => {
    const gateway = await startStubborn(markTest(context));
    try {
      const { client, transport } = await connectHttp(gateway.url);
      const { pid, grandchild } = await pidsOf(client);
      expect([pid, grandchild].every(isAlive)).toBe(true);
      await transport.terminateSession();
      await waitForExit(pid);
      await waitForExit(grandchild);
      await client.close();
    } finally {
      await gateway.stop();
    }
  });

  it('SIGTERM to serve: the gateway waits for the server and its grandchild to be gone before it exits', async (context) => {
    const gateway = await startStubborn(markTest(context));
    try {
      const { client } = await connectHttp(gateway.url);
      const { pid, grandchild } = await pidsOf(client);
      gateway.process.child.kill('SIGTERM');
      expect(await gateway.process.exited).toEqual({ code: 0, signal: null });
      // Already gone when the gateway has exited: no wait here.
      expect(isAlive(pid)).toBe(false);
      expect(isAlive(grandchild)).toBe(false);
      await client.close();
    } finally {
      await gateway.stop();
    }
  });
});

describe.concurrent('a breaker probe under way when the gateway stops', () => {
  it("SIGTERM to serve: the probe's server process (stuck in initialize, ignoring EOF) is gone when the gateway has exited", async (context) => {
    // The start-up connect times out, the breaker opens, and after its open period (1 s) a probe connects
    // to a new process, which never answers: the gateway is stopped while that probe waits.
    const env = markTest(context);
    const gateway = await startGateway(
      {
        servers: {
          stuck: { transport: 'stdio', command: 'node', args: [FAULTY, '--stuck'], connectTimeoutMs: 5_000, env },
        },
      },
      [],
      env,
    );
    let probe: number | undefined;
    try {
      await waitFor(() => gateway.process.stderr().includes('circuit breaker half-open'), 'the breaker probe');
      probe = await waitFor(
        () => childrenOf(gateway.process.child.pid!, 'faulty-server.js')[0],
        "the probe's server process",
      );
      gateway.process.child.kill('SIGTERM');
      expect(await gateway.process.exited).toEqual({ code: 0, signal: null });
      expect(isAlive(probe)).toBe(false);
    } finally {
      await gateway.stop();
    }
  });
});
