// The keys a 2026 agent is asked under in an input_required round: a 2026 server's own key when it is a
// sound one, the gateway's q1, q2, … otherwise; never two requests under one key. A real in-process
// transport whose server never answers holds the call open while its requests come in.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InProcessTransport } from '../../src/ingress/in-process-transport.js';
import { RequestRounds } from '../../src/ingress/request-rounds.js';
import { RequestStateSealer } from '../../src/ingress/request-state.js';
import { systemClock } from '../../src/model/clock.js';

const ELICIT = { message: 'name?', requestedSchema: { type: 'object', properties: {} } };

describe('input_required keys', () => {
  /** Starts one call, lets the "server" send `asks` during it, and returns the first round's keys. */
  async function roundKeys(asks: { key?: string; params?: Record<string, unknown> }[]): Promise<string[]> {
    const clock = systemClock();
    const transport = new InProcessTransport();
    const rounds = new RequestRounds(new RequestStateSealer(randomBytes(32)), clock);
    let callId = '';
    transport.onmessage = (message) => {
      if ('method' in message && message.method === 'tools/call' && 'id' in message) callId = String(message.id);
    };
    transport.onAsk = (related, ask) => rounds.ask(related, ask);
    const answer = rounds.start({
      transport,
      method: 'tools/call',
      params: { name: 't', arguments: {} },
      extra: {},
      signal: new AbortController().signal,
      principal: { issuer: 'i', subject: 's', authMethod: 'jwt' } as never,
      clientCapabilities: { elicitation: {} },
    });
    asks.forEach((ask, n) =>
      rounds.ask(callId, {
        id: n + 1,
        method: 'elicitation/create',
        params: { ...ELICIT, ...ask.params },
        ...(ask.key !== undefined && { key: ask.key }),
      }),
    );
    const result = (await answer) as { result: { resultType: string; inputRequests: Record<string, unknown> } };
    expect(result.result.resultType).toBe('input_required');
    await transport.close();
    clock.close();
    return Object.keys(result.result.inputRequests);
  }

  it("keeps a 2026 server's own keys", async () => {
    expect(await roundKeys([{ key: 'user_name' }, { key: 'greeting', params: { message: 'hi?' } }])).toEqual([
      'user_name',
      'greeting',
    ]);
  });

  it('gives the gateway keys to requests without one, and to unsound or colliding keys, never reusing a key', async () => {
    const long = 'k'.repeat(65);
    expect(
      await roundKeys([
        {},
        { key: 'q2', params: { message: 'a' } },
        { key: long, params: { message: 'b' } },
        { key: 'has space', params: { message: 'c' } },
        { key: '', params: { message: 'd' } },
        { key: 'q2', params: { message: 'e' } },
        { key: 'ok', params: { message: 'f' } },
      ]),
    ).toEqual(['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'ok']);
  });
});
