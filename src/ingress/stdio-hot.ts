// The stdio half of the tools/call and tools/list hot paths (docs/performance.md, "The tools/call hot
// path"): a message on the 2025 session that is a plain `tools/call` or `tools/list` request, once the
// SDK server has initialized the session, is handed straight to the session (the same handler, guard and
// pipeline as the SDK path, AgentSession.hotToolsCall and hotToolsList), and its answer is written as one
// line. The SDK server's protocol layer is skipped; everything else (initialize, the other methods,
// notifications, answers to the gateway's own requests, anything the hot path cannot answer exactly)
// goes to the SDK as before. The decision is made at once, before anything is recorded or forwarded.
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  type JSONRPCMessage,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { AgentSession } from '../gateway/agent-session.js';

/** Where the hot path writes: one message as one line, or a line already encoded. */
export interface HotWire {
  send(message: JSONRPCMessage): Promise<void>;
  sendLine(line: Buffer): Promise<void>;
  /** Gives a message to the SDK after all. */
  pass(message: JSONRPCMessage): void;
}

/** The hot path of one stdio session: true when it has taken the message (stdio-wire.ts's route hook). */
export function stdioHotPath(session: AgentSession, wire: HotWire): (message: JSONRPCMessage) => boolean {
  /** Hot calls in flight by JSON-RPC id: the agent's `notifications/cancelled` reaches them here. */
  const live = new Map<string | number, AbortController>();
  const send = (message: unknown): void => void wire.send(message as JSONRPCMessage);

  const call = (id: string | number, message: JSONRPCMessage): boolean => {
    const parsed = CallToolRequestSchema.safeParse(message);
    if (!parsed.success || live.has(id) || !session.hotTakes(parsed.data)) return false;
    const abort = new AbortController();
    live.set(id, abort);
    // Notifications for the agent during the call (its log messages) go out as they come, as the SDK's would.
    const notify = (notification: ServerNotification): void => send({ jsonrpc: '2.0', ...notification });
    void session.hotToolsCall({ id, request: parsed.data, signal: abort.signal, notify }).then((answer) => {
      live.delete(id);
      if (answer === undefined) return wire.pass(message);
      // Cancelled by the agent: the SDK writes no answer either.
      if (!abort.signal.aborted) send({ jsonrpc: '2.0', id, ...answer });
    });
    return true;
  };

  const list = (id: string | number, message: JSONRPCMessage): boolean => {
    const parsed = ListToolsRequestSchema.safeParse(message);
    if (!parsed.success) return false;
    const request = {
      id,
      cursor: parsed.data.params?.cursor,
      _meta: parsed.data.params?._meta,
      signal: new AbortController().signal,
    };
    void session.hotToolsList(request).then((answer) => {
      if (answer === undefined) return wire.pass(message);
      if (!('resultChunks' in answer)) return send({ jsonrpc: '2.0', id, ...answer });
      // The remembered page's bytes as they are: no serialisation or encoding of the catalog per list.
      const tail = Buffer.from(`,"jsonrpc":"2.0","id":${JSON.stringify(id)}}\n`);
      void wire.sendLine(Buffer.concat([Buffer.from('{"result":'), ...answer.resultChunks, tail]));
    });
    return true;
  };

  const cancel = (message: JSONRPCMessage): boolean => {
    const params = 'params' in message ? (message.params as { requestId?: unknown } | undefined) : undefined;
    const requestId = params?.requestId;
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return false;
    const abort = live.get(requestId);
    if (!abort) return false;
    abort.abort(new Error('cancelled by the agent'));
    return true;
  };

  return (message) => {
    if (!('method' in message)) return false; // answers to the gateway's own requests: the SDK's
    if (message.method === 'notifications/cancelled') return cancel(message);
    if ((message.method !== 'tools/call' && message.method !== 'tools/list') || !('id' in message)) return false;
    // Before initialize the SDK answers everything (and records what the agent can be asked).
    if (!session.clientCapabilities) return false;
    return message.method === 'tools/call' ? call(message.id, message) : list(message.id, message);
  };
}
