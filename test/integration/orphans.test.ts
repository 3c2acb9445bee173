// No process of a server outlives the gateway, whatever the server does: a stdio server that ignores
// the end of stdin and SIGTERM, and starts a grandchild that ignores SIGTERM too, is stopped with its
// whole process group when its session ends and when the gateway stops (SIGTERM to `serve`); a breaker
// probe under way when the gateway stops is stopped with it.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, textOf } from '../helpers/agent.js';
import { ROOT, connectHttp, startGateway } from '../helpers/gateway.js';
import { isAlive, waitFor, waitForExit } from '../helpers/process.js';

const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');
const stubborn = { transport: 'stdio', command: 'node', args: [FAULTY, '--stubborn'] };

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
  it('is stopped with its grandchild when its session ends', async () => {
    const gateway = await startGateway({ servers: { bad: stubborn } });
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

  it('SIGTERM to serve: the gateway waits for the server and its grandchild to be gone before it exits', async () => {
    const gateway = await startGateway({ servers: { bad: stubborn } });
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
  it("SIGTERM to serve: the probe's server process (stuck in initialize, ignoring EOF) is gone when the gateway has exited", async () => {
    // The start-up connect times out, the breaker opens, and after its open period (1 s) a probe connects
    // to a new process, which never answers: the gateway is stopped while that probe waits.
    const gateway = await startGateway({
      servers: { stuck: { transport: 'stdio', command: 'node', args: [FAULTY, '--stuck'], connectTimeoutMs: 5_000 } },
    });
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
      // On failure, not left behind by the test either.
      if (probe !== undefined && isAlive(probe)) process.kill(probe, 'SIGKILL');
      await gateway.stop();
    }
  });
});
