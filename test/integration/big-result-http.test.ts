// A result over the 10 MB cap from an HTTP downstream (Streamable HTTP and the deprecated HTTP+SSE):
// that call is refused with the same size error as a stdio server's, the server is kept (same process,
// the next call answered) and the gateway stays up. Before src/downstream/size-cap.ts the 11 MB result
// was passed through whole. The cap counts bytes on every path: the hot path's event-stream reader
// (raw-forward.ts) used to count characters, and passed 12 MiB of three-byte characters.
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, textOf } from '../helpers/agent.js';
import {
  connectHttp,
  FIXTURE,
  FIXTURE_READY,
  startFixtureHttp,
  startGateway,
  type RunningGateway,
} from '../helpers/gateway.js';
import { spawnReady, type ReadyProcess } from '../helpers/process.js';

let http: ReadyProcess;
let sse: ReadyProcess;
let gateway: RunningGateway;

beforeAll(async () => {
  http = await startFixtureHttp();
  sse = await spawnReady(process.execPath, [FIXTURE, '--sse', '--port', '0'], {
    readyPattern: FIXTURE_READY,
    env: { PORT: undefined, MCP_WARDEN_SUPERVISED: undefined },
  });
  gateway = await startGateway({
    servers: { web: { transport: 'http', url: http.url }, legacy: { transport: 'sse', url: sse.url } },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await http?.stop();
  await sse?.stop();
});

describe('a result larger than the cap from an HTTP downstream', () => {
  it.each(['web', 'legacy'])(
    '%s: refused with a size error; the server keeps running and answers the next call',
    async (server) => {
      const { client } = await connectHttp(gateway.url);
      try {
        const pid = async () => (await call(client, `${server}__fixture_pid`)).structuredContent;
        const before = await pid();
        await expect(call(client, `${server}__fixture_big`, { mb: 11 })).rejects.toMatchObject({
          code: ErrorCode.InternalError,
          message: expect.stringMatching(/larger than 10485760 bytes .*refused/),
        });
        // The cap is in bytes: 4 Mi three-byte characters (12 MiB of UTF-8, 4 Mi UTF-16 units) are over it
        // too. The hot path (web) used to count an event stream's characters and passed this whole.
        await expect(call(client, `${server}__fixture_big`, { mb: 4, char: '€' })).rejects.toMatchObject({
          code: ErrorCode.InternalError,
          message: expect.stringMatching(/larger than 10485760 bytes .*refused/),
        });
        // A result just under the cap still passes.
        expect(textOf(await call(client, `${server}__fixture_big`, { mb: 9 })).length).toBe(9 * 1024 * 1024);
        expect(await pid()).toEqual(before);
        expect(textOf(await call(client, `${server}__test_simple_text`))).toBeTruthy();
      } finally {
        await client.close();
      }
    },
  );
});
