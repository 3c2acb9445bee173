// A transport with no wire: the 2026 ingress hands one validated request at a time to an AgentSession's
// SDK server and gets its response back, so stateless requests run the very handlers (and pipeline)
// that 2025 sessions use.
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';

/** The server's answer to one dispatched request. */
export type Answer = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };

const METHOD_NOT_FOUND = -32601;

export class InProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  private next = 0;
  private readonly pending = new Map<string, (answer: Answer) => void>();
  private closed = false;

  async start(): Promise<void> {}

  /**
   * Runs one request. Ids are the transport's own, so two agents' requests with the same JSON-RPC id
   * never meet; an abort sends `notifications/cancelled`, which cancels the downstream call.
   */
  dispatch(
    method: string,
    params: Record<string, unknown>,
    extra: MessageExtraInfo,
    signal?: AbortSignal,
  ): Promise<Answer> {
    if (this.closed) return Promise.resolve({ error: { code: -32603, message: 'Internal error' } });
    const id = `stateless-${(this.next += 1)}`;
    return new Promise<Answer>((resolve) => {
      const onAbort = () =>
        this.onmessage?.({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: id, reason: 'the agent closed the request' },
        });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, (answer) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(answer);
      });
      this.onmessage?.({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage, extra);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const m = message as {
      id?: string | number;
      method?: string;
      result?: Record<string, unknown>;
      error?: { code: number; message: string; data?: unknown };
    };
    if (m.method !== undefined) {
      // A server→client request (sampling, elicitation, roots): 2026 agents get these as input_required
      // rounds, which are not built yet, so it is refused at once instead of waiting for nobody.
      if (m.id !== undefined) {
        this.onmessage?.({
          jsonrpc: '2.0',
          id: m.id,
          error: { code: METHOD_NOT_FOUND, message: `${m.method} is not relayed to 2026-07-28 agents yet` },
        });
      }
      return; // notifications (progress, logs, list_changed) have no stream to travel on yet
    }
    const settle = m.id === undefined ? undefined : this.pending.get(String(m.id));
    if (!settle) return;
    this.pending.delete(String(m.id));
    settle(m.error ? { error: m.error } : { result: m.result ?? {} });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const settle of this.pending.values()) settle({ error: { code: -32603, message: 'Internal error' } });
    this.pending.clear();
    this.onclose?.();
  }
}
