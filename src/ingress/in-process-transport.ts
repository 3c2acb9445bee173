// A transport with no wire: the 2026 ingress hands one validated request at a time to an AgentSession's
// SDK server and gets its response back, so stateless requests run the very handlers (and pipeline)
// that 2025 sessions use.
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { takeInputKey } from '../gateway/relay-link.js';

/** The server's answer to one dispatched request. */
export type Answer = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };

const METHOD_NOT_FOUND = -32601;
/** Ids unique across every transport of the process, so one map can find a request by its id. */
let counter = 0;

/** Why a server→client request is refused: a message (answered -32601), or the error to answer. */
export type AskRefusal = string | { code: number; message: string; data?: unknown };

/** A server→client request (sampling, elicitation, roots) sent while a dispatched request runs. */
export interface ServerAsk {
  id: string | number;
  method: string;
  params?: Record<string, unknown>;
  /** A 2026 server's own key for this request in its `inputRequests` (unvalidated: the rounds check it). */
  key?: string;
}

export class InProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  /**
   * Takes a server→client request sent during the dispatched request `relatedId` (it answers it later
   * with `answer`); returns a refusal when it will not (a message, answered -32601, or an error), and
   * the request is refused at once.
   */
  onAsk?: (relatedId: string, ask: ServerAsk) => AskRefusal | undefined;
  /** Takes a notification (progress, log) sent during the dispatched request `relatedId`. */
  onNotify?: (relatedId: string, notification: { method: string; params?: Record<string, unknown> }) => void;
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
    const { id, done } = this.begin(method, params, extra);
    if (!signal) return done;
    const onAbort = () => this.cancel(id, 'the agent closed the request');
    signal.addEventListener('abort', onAbort, { once: true });
    return done.finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** Starts one request and returns its id (for `cancel` and for `onAsk`) and its answer. */
  begin(
    method: string,
    params: Record<string, unknown>,
    extra: MessageExtraInfo,
  ): { id: string; done: Promise<Answer> } {
    const id = `stateless-${(counter += 1)}`;
    if (this.closed) return { id, done: Promise.resolve({ error: { code: -32603, message: 'Internal error' } }) };
    const done = new Promise<Answer>((resolve) => this.pending.set(id, resolve));
    this.onmessage?.({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage, extra);
    return { id, done };
  }

  /** Cancels a started request as the agent would (`notifications/cancelled`): the downstream call is cancelled. */
  cancel(id: string, reason: string): void {
    if (!this.pending.has(id)) return;
    this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } });
  }

  /** The agent's answer to a server→client request taken by `onAsk`. */
  answer(askId: string | number, answer: Answer): void {
    if (this.closed) return;
    this.onmessage?.({ jsonrpc: '2.0', id: askId, ...answer } as JSONRPCMessage);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const m = message as {
      id?: string | number;
      method?: string;
      params?: Record<string, unknown>;
      result?: Record<string, unknown>;
      error?: { code: number; message: string; data?: unknown };
    };
    if (m.method !== undefined) {
      // A server→client request (sampling, elicitation, roots): 2026 agents get it as an input_required
      // round of the request it belongs to (request-rounds.ts); one that belongs to none, or that the
      // agent cannot answer, is refused at once instead of waiting for nobody.
      if (m.id !== undefined) {
        const related = options?.relatedRequestId;
        const { params, key } = takeInputKey(m.params);
        const ask = {
          id: m.id,
          method: m.method,
          ...(params !== undefined && { params }),
          ...(key !== undefined && { key }),
        };
        const refusal =
          related === undefined
            ? `${m.method} reaches a 2026-07-28 agent only during one of its requests`
            : (this.onAsk?.(String(related), ask) ?? (this.onAsk ? undefined : `${m.method} is not relayed here`));
        if (refusal !== undefined)
          this.onmessage?.({
            jsonrpc: '2.0',
            id: m.id,
            error: typeof refusal === 'string' ? { code: METHOD_NOT_FOUND, message: refusal } : refusal,
          });
      }
      // A notification of one request goes to whoever streams that request; the rest (list_changed
      // between requests) has no stream to travel on yet.
      const related = options?.relatedRequestId;
      if (related !== undefined)
        this.onNotify?.(String(related), { method: m.method, ...(m.params !== undefined && { params: m.params }) });
      return;
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
