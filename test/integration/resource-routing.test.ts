// A resource made after the last list is reachable at once: through the resource link that announced
// it, and in another session (which never saw the link) after the servers re-list on the miss. A URI
// nobody serves is answered by the server whose scheme it has, with that server's own error code.
import { join } from 'node:path';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { call } from '../helpers/agent.js';
import { ROOT, connectHttp, fixtureServer, startGateway } from '../helpers/gateway.js';

const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');

describe('resources in no list yet', () => {
  it('are routed by the announcing link, by a re-list on the miss, and a real miss keeps the server code', async () => {
    const gateway = await startGateway({
      servers: { fx: fixtureServer(), srv: { transport: 'stdio', command: 'node', args: [FAULTY], shared: true } },
    });
    try {
      const a = await connectHttp(gateway.url);
      const b = await connectHttp(gateway.url);
      expect((await a.client.listResources()).resources.map((r) => r.uri)).toContain('faulty://made');
      expect((await b.client.listResources()).resources.map((r) => r.uri)).toContain('faulty://made');

      const made = await call(a.client, 'srv__create_resource', { name: 'fresh' });
      expect(made.content[0]).toMatchObject({ type: 'resource_link', uri: 'faulty://fresh' });
      for (const client of [a.client, b.client]) {
        const read = await client.readResource({ uri: 'faulty://fresh' });
        expect(read.contents[0]).toMatchObject({ uri: 'faulty://fresh', text: 'created as fresh' });
      }

      await expect(a.client.readResource({ uri: 'faulty://nothing' })).rejects.toMatchObject({
        code: ErrorCode.InvalidParams,
        message: expect.stringMatching(/no resource faulty:\/\/nothing/),
      });
      // A scheme no server uses: the gateway's own answer.
      await expect(a.client.readResource({ uri: 'nobody://x' })).rejects.toMatchObject({ code: -32002 });
      await Promise.all([a.client.close(), b.client.close()]);
    } finally {
      await gateway.stop();
    }
  });
});
