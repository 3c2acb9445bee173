// No process of a server outlives the gateway, whatever the server does: a stdio server that ignores
// the end of stdin and SIGTERM, and starts a grandchild that ignores SIGTERM too, is stopped with its
// whole process group when its session ends and when the gateway stops (SIGTERM to `serve`).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, textOf } from '../helpers/agent.js';
import { ROOT, connectHttp, startGateway } from '../helpers/gateway.js';
import { isAlive, waitForExit } from '../helpers/process.js';

const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');
const stubborn = { transport: 'stdio', command: 'node', args: [FAULTY, '--stubborn'] };

async function pidsOf(
  client: Awaited<ReturnType<typeof connectHttp>>['client'],
): Promise<{ pid: number; grandchild: number }> {
  return JSON.parse(textOf(await call(client, 'bad__pids'))) as { pid: number; grandchild: number };
}

// Each test has a gateway of its own and spends most of its time in the stop's grace periods (2 s after
// EOF, 2 s after SIGTERM): they wait side by side.
describe.concurrent('a server that ignores EOF and SIGTERM and starts a grandchild', { timeout: 90_000 }, () => {
  it('is stopped with its grandchild when its session ends', async () => {
    const gateway = await startGateway({ servers: { bad: stubborn } });
    try {
      const { client, transport } = await connectHttp(gateway.url);
      const { pid, grandchild } = await pidsOf(client);
      expect([pid, grandchild].every(isAlive)).toBe(true);
      await transport.terminateSession();
      await waitForExit(pid, 15_000);
      await waitForExit(grandchild, 15_000);
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
