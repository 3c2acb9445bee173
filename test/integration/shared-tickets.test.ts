// The README path with more than one gateway on one data folder: `npm start` (serve) twice and a Claude
// Desktop style `stdio` gateway, all on the same config and data folder, each launching its own bundled
// `tickets` server on the same tickets.json (the decision: every launched instance is safe to share,
// servers/tickets/file-lock.ts, rather than one instance per data folder). Agents write through all
// three at once: no ticket is lost, and every gateway lists every ticket.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { describe, expect, it } from 'vitest';
import { BIN, TICKETS, connectHttp, connectStdio, writeConfig } from '../helpers/gateway.js';
import { spawnReady, type ReadyProcess } from '../helpers/process.js';

interface Ticket {
  id: number;
  title: string;
  comments: { text: string }[];
}

function serve(file: string): Promise<ReadyProcess> {
  return spawnReady(process.execPath, [BIN, 'serve', '--config', file, '--port', '0'], {
    readyPattern: /^mcp-warden listening on (http:\/\/\S+)$/,
    env: { MCP_WARDEN_LOG_LEVEL: 'warn' },
  });
}

async function tickets(client: Client): Promise<Ticket[]> {
  const result = await client.callTool({ name: 'tickets__list_tickets', arguments: {} });
  return (result.structuredContent as { tickets: Ticket[] }).tickets;
}

describe('gateways sharing one data folder and its launched tickets server', () => {
  it('two serve gateways and a stdio gateway write at once: no ticket lost, all three list all of them', async () => {
    const { dir, file } = await writeConfig({
      servers: {
        tickets: {
          transport: 'http',
          url: 'http://127.0.0.1:0/mcp',
          launch: { command: 'node', args: [TICKETS, '--data', './data/tickets.json'] },
        },
      },
    });
    const gateways: ReadyProcess[] = [];
    const clients: Client[] = [];
    try {
      gateways.push(...(await Promise.all([serve(file), serve(file)])));
      for (const gateway of gateways) clients.push((await connectHttp(gateway.url!)).client);
      clients.push((await connectStdio(file)).client);
      // Each gateway launched a tickets server of its own: three processes on one file.
      const create = (client: Client, title: string) =>
        client.callTool({ name: 'tickets__create_ticket', arguments: { title, body: 'concurrent', priority: 'low' } });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => clients.map((client, g) => create(client, `g${g}-${i}`))).flat(),
      );
      expect(results.filter((r) => r.isError)).toEqual([]);
      for (const client of clients) {
        const listed = await tickets(client);
        expect(listed.map((t) => t.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
        expect(new Set(listed.map((t) => t.title)).size).toBe(30);
      }
      // A change through one gateway is kept by a change through another, and seen by the third.
      await clients[0]!.callTool({ name: 'tickets__comment_ticket', arguments: { id: 7, comment: 'via serve 1' } });
      await clients[1]!.callTool({ name: 'tickets__comment_ticket', arguments: { id: 7, comment: 'via serve 2' } });
      expect((await tickets(clients[2]!)).find((t) => t.id === 7)?.comments.map((c) => c.text)).toEqual([
        'via serve 1',
        'via serve 2',
      ]);
      const onDisk = JSON.parse(readFileSync(join(dir.path, 'data/tickets.json'), 'utf8')) as { tickets: Ticket[] };
      expect(onDisk.tickets).toHaveLength(30);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await Promise.all(gateways.map((gateway) => gateway.stop()));
      await dir.cleanup();
    }
  });
});
