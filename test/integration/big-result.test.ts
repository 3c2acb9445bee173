// A result over the 10 MB stdio cap: that call is refused with a size error, the server is kept
// (same process, next call answered), and the gateway stays up.
import { join } from 'node:path';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { call, textOf } from '../helpers/agent.js';
import { ROOT, connectHttp, startGateway } from '../helpers/gateway.js';

const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');
const MALFORMED = join(ROOT, 'dist/test/fixtures/malformed-server.js');

describe('a result larger than the stdio cap', () => {
  it('is refused with a size error; the server keeps running and answers the next call', async () => {
    const gateway = await startGateway({ servers: { big: { transport: 'stdio', command: 'node', args: [FAULTY] } } });
    try {
      const { client } = await connectHttp(gateway.url);
      const before = JSON.parse(textOf(await call(client, 'big__pids'))) as { pid: number };
      await expect(call(client, 'big__big', { mb: 11 })).rejects.toMatchObject({
        code: ErrorCode.InternalError,
        message: expect.stringMatching(/larger than 10485760 bytes .*refused/),
      });
      // A result just under the cap still passes.
      expect(textOf(await call(client, 'big__big', { mb: 9 })).length).toBe(9 * 1024 * 1024);
      const after = JSON.parse(textOf(await call(client, 'big__pids'))) as { pid: number };
      expect(after.pid).toBe(before.pid);
      expect(textOf(await call(client, 'big__echo', { text: 'still here' }))).toBe('still here');
      await client.close();
    } finally {
      await gateway.stop();
    }
  });
});

describe('a result that is not a result', () => {
  it('is refused with -32603 naming the server, and the server answers the next call', async () => {
    const gateway = await startGateway({
      servers: { odd: { transport: 'stdio', command: 'node', args: [MALFORMED] } },
    });
    try {
      const { client } = await connectHttp(gateway.url);
      await expect(call(client, 'odd__odd')).rejects.toMatchObject({
        code: ErrorCode.InternalError,
        message: expect.stringContaining('Server odd returned a malformed result'),
      });
      expect(textOf(await call(client, 'odd__fine'))).toBe('fine');
      await client.close();
    } finally {
      await gateway.stop();
    }
  });
});
