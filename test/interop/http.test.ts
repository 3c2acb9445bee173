// server-everything over Streamable HTTP and over HTTP+SSE (its own process, pinned devDependency,
// run with `node` on its entry file): behind the gateway and directly, the same lists and results.
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/process.js';

const require = createRequire(import.meta.url);
const EVERYTHING = join(
  dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
  'dist/index.js',
);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const CALLS = [
  { tool: 'echo', arguments: { message: 'hello through the gateway' } },
  { tool: 'get-sum', arguments: { a: 2, b: 40 } },
  { tool: 'get-tiny-image', arguments: {} },
];

describe.each([
  { transport: 'http' as const, mode: 'streamableHttp', path: '/mcp' },
  { transport: 'sse' as const, mode: 'sse', path: '/sse' },
])('server-everything over $transport: behind the gateway as directly', ({ transport, mode, path }) => {
  let child: ChildProcess;
  let gateway: RunningGateway;
  let viaGateway: Client;
  let direct: Client;

  beforeAll(async () => {
    const port = await freePort();
    child = spawn(process.execPath, [EVERYTHING, mode], {
      env: { PATH: process.env.PATH ?? '', PORT: String(port) },
      stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}${path}`;
    direct = await waitFor(
      async () => {
        const client = new Client({ name: 'warden-test', version: '1.0.0' });
        const clientTransport =
          transport === 'http' ? new StreamableHTTPClientTransport(new URL(url)) : new SSEClientTransport(new URL(url));
        return client.connect(clientTransport).then(
          () => client,
          () => undefined,
        );
      },
      'server-everything to listen',
      30_000,
    );
    gateway = await startGateway({ servers: { srv: { transport, url } } });
    viaGateway = (await connectHttp(gateway.url)).client;
  });

  afterAll(async () => {
    await viaGateway?.close();
    await direct?.close();
    await gateway?.stop();
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
  });

  it('lists the same tools, prefixed, and answers every call with the same result', async () => {
    const through = (await viaGateway.listTools()).tools;
    const own = (await direct.listTools()).tools;
    expect(through.map((t) => t.name)).toEqual(own.map((t) => `srv__${t.name}`));
    for (const call of CALLS) {
      const viaResult = await viaGateway.callTool({ name: `srv__${call.tool}`, arguments: call.arguments });
      expect(viaResult, call.tool).toEqual(await direct.callTool({ name: call.tool, arguments: call.arguments }));
    }
    expect((await viaGateway.listResources()).resources.map((r) => r.uri)).toEqual(
      (await direct.listResources()).resources.map((r) => r.uri),
    );
  });
});
