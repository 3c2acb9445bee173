// A bench HTTP session makes thousands of requests on one SDK transport, which gives each of them the
// session's one AbortSignal. Handed to the global fetch, every request left an abort listener on that
// signal until it was garbage-collected: over 1,500 on a busy session, and Node printed
// MaxListenersExceededWarning in the middle of the bench's output. The session's signal now keeps only
// the listener of its event stream, however many requests the session makes.
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/gateway.js';
import { spawnReady, type ReadyProcess } from '../helpers/process.js';
// @ts-expect-error: a plain JavaScript module of the bench, without types
import { openHttp } from '../../bench/lib/targets.mjs';

interface BenchSession {
  client: {
    callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
    transport?: unknown;
  };
  close(): Promise<void>;
}

describe('a bench HTTP session', () => {
  let echo: ReadyProcess;

  beforeAll(async () => {
    echo = await spawnReady(process.execPath, [join(ROOT, 'bench/servers/echo.mjs'), '--http', '--port', '0'], {
      readyPattern: /^echo listening on (http:\/\/\S+)$/,
      env: { PORT: undefined },
    });
  });

  afterAll(async () => {
    await echo?.stop();
  });

  it('leaves no abort listener per request on the session signal', async () => {
    const session = (await openHttp(echo.url!, {})) as BenchSession;
    try {
      for (let i = 0; i < 200; i++) await session.client.callTool({ name: 'echo', arguments: { text: `t${i}` } });
      // The SDK transport's own controller: the signal it gives every request of the session.
      const signal = (session.client.transport as { _abortController: AbortController })._abortController.signal;
      expect(getEventListeners(signal, 'abort').length).toBeLessThanOrEqual(2);
    } finally {
      await session.close();
    }
  });
});
