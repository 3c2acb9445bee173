import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Gateway } from '../gateway/gateway.js';
import type { Principal } from '../model/principal.js';
import type { Logger } from '../observe/logger.js';
import { WireError } from '../pipeline/denial.js';
import { toAuthInfo } from './auth-info.js';
import type { Answer } from './in-process-transport.js';
import type { ListenSink } from './listen.js';
import { createStatelessCore } from './stateless-core.js';
import { routeEra, type EraRoute } from './stateless-envelope.js';
import type { StdioLimits } from './stdio-guard.js';
import { stdioHotPath } from './stdio-hot.js';
import { StdioWire } from './stdio-wire.js';

export interface StdioIngress {
  /** Resolves when the agent host closes stdin or the transport closes. */
  closed: Promise<void>;
  close(): Promise<void>;
}

export interface StdioIngressOptions {
  gateway: Gateway;
  settings: GatewayConfig;
  logger: Logger;
  /** The stdio identity, asked again for every request (a token may expire or be rotated in its file). */
  principalOf: () => Promise<Principal | undefined>;
  limits: StdioLimits;
}

const INTERNAL_ERROR = { code: -32603, message: 'Internal error' };

/**
 * The agent over this process's stdin/stdout (how Claude Desktop and similar hosts run servers). stdout
 * carries only protocol messages; everything else goes to stderr. Each message passes the same size,
 * depth, key and value limits as on HTTP before it is parsed, and is then routed by era as on HTTP, from
 * its body alone (stdio has no headers): an `initialize`, and everything after it, is the one 2025
 * session of this connection; before that, a request carrying the 2026-07-28 `_meta` envelope is
 * answered statelessly by the same request path HTTP uses (stateless-core.ts). On the 2025 session, plain
 * `tools/call` and `tools/list` requests are answered by the hot path (stdio-hot.ts), the rest by the SDK
 * server. Identity is the stdio credential for both eras, never anything the message says.
 */
export async function startStdioIngress(options: StdioIngressOptions): Promise<StdioIngress> {
  const { gateway, settings, logger, principalOf } = options;
  const session = gateway.createSession({
    ingress: 'stdio',
    principalOf: () => principalOf(),
    owner: () => principalOf(),
  });
  const stateless = createStatelessCore({ gateway, settings, logger, authInfo: toAuthInfo, ingress: 'stdio' });
  /** 2026 requests in flight, by JSON-RPC id: a `notifications/cancelled` naming one aborts it. */
  const inflight = new Map<string | number, AbortController>();
  /** Set by close(): a stream then ends with the gateway's graceful close, not as cancelled by the agent. */
  let stopping = false;
  /** Set by the first 2025 `initialize`: from then on the connection is that session's. */
  let sessionOpen = false;
  /** The session's tools/call and tools/list hot path (stdio-hot.ts); the SDK server answers the rest. */
  let hot: ((message: JSONRPCMessage) => boolean) | undefined;

  const wire = new StdioWire(process.stdin, process.stdout, options.limits, (message) => {
    if (sessionOpen) return hot?.(message) ? 'handled' : 'pass';
    const route = routeEra(undefined, message as Record<string, unknown>);
    if (route.era === '2025') {
      if ('method' in message && message.method === 'initialize' && 'id' in message) sessionOpen = true;
      return 'pass';
    }
    void serve2026(route, message);
    return 'handled';
  });
  if (settings.hotPath)
    hot = stdioHotPath(session, {
      send: (message) => wire.send(message),
      sendLine: (line) => wire.sendLine(line),
      pass: (message) => wire.onmessage?.(message),
    });

  const answer = (id: string | number | null, reply: Answer): Promise<void> =>
    wire.send({ jsonrpc: '2.0', id, ...reply } as unknown as JSONRPCMessage);

  async function serve2026(route: EraRoute & { era: '2026' }, message: JSONRPCMessage): Promise<void> {
    if ('notification' in route) {
      // 2026-07-28 notifications from an agent: only cancellation means anything on this path.
      const params = 'params' in message ? message.params : undefined;
      const cancelled = route.notification.method === 'notifications/cancelled' ? params?.requestId : undefined;
      if (typeof cancelled === 'string' || typeof cancelled === 'number') inflight.get(cancelled)?.abort();
      return;
    }
    const id = 'refusal' in route ? route.refusal.id : route.request.id;
    let principal: Principal | undefined;
    try {
      principal = await principalOf();
    } catch (error) {
      gateway.pipeline.authFailure({
        ingress: 'stdio',
        session: undefined,
        reason: error instanceof Error ? error.message : 'no credential',
      });
      await answer(id, { error: error instanceof WireError ? wireError(error) : INTERNAL_ERROR });
      return;
    }
    if (principal === undefined) {
      gateway.pipeline.authFailure({ ingress: 'stdio', session: undefined, reason: 'no credential' });
      await answer(id, { error: { code: -32600, message: 'Authentication required' } });
      return;
    }
    if ('refusal' in route) {
      await answer(id, await stateless.refuse(principal, route.refusal));
      return;
    }
    const request = route.request;
    const abort = new AbortController();
    inflight.set(request.id, abort);
    const listen = request.method === 'subscriptions/listen' ? stdioSink(abort.signal, request.id) : undefined;
    try {
      const outcome = await stateless.handle(principal, request, {
        signal: abort.signal,
        notify: (notification) => void wire.send({ jsonrpc: '2.0', ...notification } as JSONRPCMessage),
        ...(listen && { listen: listen.sink }),
      });
      // A cancelled request gets no answer (the agent has stopped waiting for one); a listen stream that
      // opened has already written its last message (listen.ts).
      if (!abort.signal.aborted && !listen?.opened()) await answer(request.id, outcome.answer);
    } catch (error) {
      logger.error({ err: error, method: request.method }, 'stdio 2026-07-28 request failed');
      await answer(request.id, { error: INTERNAL_ERROR });
    } finally {
      if (inflight.get(request.id) === abort) inflight.delete(request.id);
    }
  }

  /**
   * A listen stream's messages as lines on stdout, among the connection's other messages (each tagged
   * with the stream's subscription id by listen.ts). The agent ends it with `notifications/cancelled`
   * naming the listen request; the gateway's own close ends it gracefully instead. On stdio the spec has
   * the server also send `notifications/cancelled` naming the listen request when it ends the stream
   * itself (shutdown, revocation, expiry): written after the stream's last message.
   */
  function stdioSink(signal: AbortSignal, id: string | number): { sink: ListenSink; opened: () => boolean } {
    let opened = false;
    const sink: ListenSink = {
      send(message) {
        opened = true;
        void wire.send(message as unknown as JSONRPCMessage);
      },
      end() {
        if (signal.aborted && !stopping) return; // the agent cancelled it: nothing more is written
        void wire.send({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: id, reason: 'the gateway ended the subscription' },
        } as JSONRPCMessage);
      },
      onClose(fn) {
        const cancelled = (): void => {
          if (!stopping) fn();
        };
        if (signal.aborted) cancelled();
        else signal.addEventListener('abort', cancelled, { once: true });
      },
    };
    return { sink, opened: () => opened };
  }

  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  wire.onclose = () => markClosed();
  process.stdin.once('end', () => markClosed());
  process.stdin.once('close', () => markClosed());
  await session.server.connect(wire);
  return {
    closed,
    async close() {
      stopping = true;
      for (const abort of inflight.values()) abort.abort();
      // The core first: its listen streams write their closing result while stdout is still the session's.
      await Promise.all([stateless.close(), session.close()]);
      markClosed();
    },
  };
}

function wireError(error: WireError): { code: number; message: string; data?: unknown } {
  return { code: error.code, message: error.message, ...(error.data !== undefined && { data: error.data }) };
}
