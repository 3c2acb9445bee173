// Downstream `instructions` reach the agent: merged into the gateway's own, each under its server id,
// cleaned of escape sequences and invisible characters, and cut at the per-server cap.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_SERVER_INSTRUCTIONS } from '../../src/gateway/instructions.js';
import { ROOT, connectHttp, startGateway } from '../helpers/gateway.js';

const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');

describe('downstream instructions', () => {
  it('are merged, prefixed by server id, cleaned and capped', async () => {
    const gateway = await startGateway({
      servers: {
        alpha: {
          transport: 'stdio',
          command: 'node',
          args: [FAULTY],
          env: { FAULTY_INSTRUCTIONS: 'Call \u001b[31mecho\u001b[0m first.\u200b\u202e Then pids.' },
        },
        beta: {
          transport: 'stdio',
          command: 'node',
          args: [FAULTY],
          prefix: 'b',
          env: { FAULTY_INSTRUCTIONS: 'y'.repeat(5_000) },
        },
        quiet: { transport: 'stdio', command: 'node', args: [FAULTY] },
      },
    });
    try {
      const { client } = await connectHttp(gateway.url);
      const text = client.getInstructions() ?? '';
      expect(text).toContain('## Server alpha (its tools are named alpha__*)\nCall echo first. Then pids.');
      for (const hidden of ['\u001b', '\u200b', '\u202e']) expect(text).not.toContain(hidden);
      expect(text).toContain(
        `## Server beta (its tools are named b__*)\n${'y'.repeat(MAX_SERVER_INSTRUCTIONS)} [cut: longer than ${MAX_SERVER_INSTRUCTIONS} characters]`,
      );
      expect(text).not.toContain('y'.repeat(MAX_SERVER_INSTRUCTIONS + 1));
      expect(text).not.toContain('Server quiet');
      await client.close();
    } finally {
      await gateway.stop();
    }
  });
});
