// The 2026-07-28 (stateless) half of the `/mcp` endpoint: how HTTP carries what the transport-agnostic
// request path (stateless-core.ts) answers. One JSON body, or an event stream once the request has a
// notification to send (its progress), or a `subscriptions/listen` stream; HTTP statuses (404 for a method not served, 400 for a missing
// capability, 503 when the pool is full); the closing of the exchange cancels the request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../model/principal.js';
import type { Answer } from './in-process-transport.js';
import type { ListenSink } from './listen.js';
import { MISSING_CAPABILITY, type Notify } from './request-rounds.js';
import { createStatelessCore, type StatelessCoreOptions, type StatelessOutcome } from './stateless-core.js';
import { HEADER_MISMATCH, type EnvelopeRefusal, type StatelessRequest } from './stateless-envelope.js';

export type StatelessIngressOptions = Omit<StatelessCoreOptions, 'ingress'>;

export interface StatelessIngress {
  serve(req: IncomingMessage, res: ServerResponse, principal: Principal, request: StatelessRequest): Promise<void>;
  /** A request refused before dispatch: recorded when it names a target, then answered with its HTTP status. */
  refuse(res: ServerResponse, principal: Principal, refusal: EnvelopeRefusal): Promise<void>;
  /** A 2026 notification: accepted and dropped (cancellation is the closing of the request's HTTP exchange). */
  notification(res: ServerResponse): void;
  readonly sessions: number;
  close(): Promise<void>;
}

export function createStatelessIngress(options: StatelessIngressOptions): StatelessIngress {
  const core = createStatelessCore({ ...options, ingress: 'http' });

  return {
    get sessions() {
      return core.sessions;
    },

    async serve(req, res, principal, request) {
      const abort = new AbortController();
      const onClose = () => {
        if (!res.writableFinished) abort.abort();
      };
      res.once('close', onClose);
      // The first notification of this request (its progress) turns the answer into an event stream.
      let streaming = false;
      const notify: Notify = (notification) => {
        if (res.destroyed || res.writableEnded) return;
        if (!streaming) {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
          streaming = true;
        }
        res.write(sseEvent({ jsonrpc: '2.0', ...notification }));
      };
      try {
        const listen = request.method === 'subscriptions/listen' ? sseSink(res) : undefined;
        const outcome = await core.handle(principal, request, {
          signal: abort.signal,
          notify,
          headers: req.headers,
          ...(listen && { listen }),
        });
        // A listen stream that opened has ended: it wrote all it had to (listen.ts).
        if (listen && res.headersSent) listen.end();
        else if (streaming) {
          if (!res.destroyed) res.end(sseEvent({ jsonrpc: '2.0', id: request.id, ...outcome.answer }));
        } else if (outcome.kind === 'busy') send(res, 503, request.id, outcome.answer, { 'retry-after': '5' });
        else send(res, statusOf(outcome), request.id, outcome.answer);
      } finally {
        res.off('close', onClose);
      }
    },

    async refuse(res, principal, refusal) {
      send(res, refusal.status, refusal.id, await core.refuse(principal, refusal));
    },

    notification(res) {
      res.writeHead(202, { 'cache-control': 'no-store' });
      res.end();
    },

    close: () => core.close(),
  };
}

/** The HTTP status of a 2026 answer sent as one JSON body (2026-07-28, Streamable HTTP). */
function statusOf(outcome: StatelessOutcome): number {
  if (outcome.kind === 'unserved') return 404;
  if (outcome.kind === 'busy') return 503;
  if (!('error' in outcome.answer)) return 200;
  // The gateway's own: a downstream's code in the reserved range reaches the agent as -32000 (eraError).
  const code = outcome.answer.error.code;
  return code === MISSING_CAPABILITY || code === HEADER_MISMATCH ? 400 : 200;
}

/** A listen stream's messages as server-sent events on the request's own response. */
function sseSink(res: ServerResponse): ListenSink {
  return {
    send(message) {
      if (res.destroyed || res.writableEnded) return;
      if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(sseEvent(message));
    },
    end() {
      if (!res.writableEnded) res.end();
    },
    onClose(fn) {
      if (res.destroyed || res.writableEnded) fn();
      else res.once('close', fn);
    },
  };
}

function sseEvent(message: Record<string, unknown>): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

function send(
  res: ServerResponse,
  status: number,
  id: string | number | null,
  answer: Answer,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', id, ...answer }));
}
