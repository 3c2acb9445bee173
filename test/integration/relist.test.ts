// Overlapping re-lists: a slow tools/list (after tools/list_changed) is still under way when prompts
// change and are re-listed. The prompts the agent is told about must be the ones it then lists; the
// tools re-list must not put back the prompt list it saw before its await.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, recordNotifications } from '../helpers/agent.js';
import { ROOT, connectHttp, startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/process.js';

const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');

describe('overlapping re-lists', () => {
  it('a slow tools re-list does not restore the prompt list from before a prompts re-list', async () => {
    const gateway = await startGateway({ servers: { srv: { transport: 'stdio', command: 'node', args: [FAULTY] } } });
    try {
      const { client } = await connectHttp(gateway.url);
      const seen = recordNotifications(client);
      expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(['srv__first']);
      await call(client, 'srv__relist_race');
      // The tools re-list ends last (the server holds it until prompts were re-listed).
      await waitFor(() => seen.some((n) => n.method === 'notifications/prompts/list_changed'), 'prompts list_changed');
      await waitFor(() => seen.some((n) => n.method === 'notifications/tools/list_changed'), 'tools list_changed');
      expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(['srv__first', 'srv__second']);
      await client.close();
    } finally {
      await gateway.stop();
    }
  });
});
