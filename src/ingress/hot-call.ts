// The ingress half of the tools/call and tools/list hot paths (docs/performance.md, "The tools/call hot
// path", "The serialised list page"): a 2025 session's `tools/call` (or `tools/list`) POST, already authenticated, size-checked, parsed and matched to its
// session by http.ts, is handed to the session without the SDK's Streamable HTTP transport, and answered
// in one write: one JSON body when nothing was relayed during the call (the agent accepts JSON), else the
// event-stream framing the transport uses (log messages, then the answer). A request the hot path cannot
// answer exactly is left to the SDK (this returns false before anything is recorded or forwarded).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { AgentSession } from '../gateway/agent-session.js';

/** Hot calls in flight per session, by JSON-RPC id: the agent's `notifications/cancelled` reaches them here. */
const inFlight = new WeakMap<AgentSession, Map<string | number, AbortController>>();

/**
 * Whether the hot path may take this POST: a single `tools/call` request whose headers the SDK transport
 * would accept as they are (both media types accepted, a JSON body, a supported protocol version), and
 * whose params pass the SDK's own request schema. Anything else gets the SDK's answer, errors included.
 */
function takes(req: IncomingMessage, body: Record<string, unknown>): boolean {
  if ((body.method !== 'tools/call' && body.method !== 'tools/list') || body.id === undefined) return false;
  const accept = req.headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return false;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') return false;
  const version = req.headers['mcp-protocol-version'];
  return version === undefined || (typeof version === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(version));
}

/**
 * Serves one 2025 session POST by the hot path when it can; returns false, having done nothing, when the
 * SDK transport must handle it. The agent's cancellation of a hot call (a `notifications/cancelled`
 * POST naming its id) is taken here too.
 */
export async function serveHot(
  session: AgentSession,
  sessionId: string,
  req: IncomingMessage,
  res: ServerResponse,
  body: unknown,
  authInfo: AuthInfo,
): Promise<boolean> {
  const message = body as Record<string, unknown>;
  if (message.method === 'notifications/cancelled') return cancel(session, message, res);
  if (!takes(req, message)) return false;
  if (message.method === 'tools/list') return list(session, sessionId, req, res, message, authInfo);
  const parsed = CallToolRequestSchema.safeParse(message);
  if (!parsed.success) return false;
  const id = message.id as string | number;
  let live = inFlight.get(session);
  if (live?.has(id)) return false; // a duplicate id in flight: the SDK decides what that means
  const abort = new AbortController();
  const events: string[] = [];
  const notify = (notification: ServerNotification): void =>
    void events.push(sseEvent({ jsonrpc: '2.0', ...notification }));
  if (!live) inFlight.set(session, (live = new Map()));
  live.set(id, abort);
  let answer;
  try {
    answer = await session.hotToolsCall({
      id,
      request: parsed.data,
      authInfo,
      headers: req.headers,
      signal: abort.signal,
      notify,
    });
  } finally {
    live.delete(id);
  }
  if (answer === undefined) return false;
  if (res.destroyed) return true;
  // Cancelled by the agent: the SDK writes no answer either; the stream just ends.
  if (abort.signal.aborted) answerEvents(res, sessionId, [Buffer.from(events.join(''))]);
  // Nothing relayed during the call: the answer alone, as one JSON body (the agent accepts it, takes()).
  else if (events.length === 0)
    answerJson(res, sessionId, [Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, ...answer }))]);
  else {
    events.push(sseEvent({ jsonrpc: '2.0', id, ...answer }));
    answerEvents(res, sessionId, [Buffer.from(events.join(''))]);
  }
  return true;
}

/**
 * A `tools/list` by the hot path: the session's list (authenticated, filtered and recorded as on the SDK
 * path) comes back as JSON text, whose catalog part is remembered serialised, and is written as it is.
 */
async function list(
  session: AgentSession,
  sessionId: string,
  req: IncomingMessage,
  res: ServerResponse,
  message: Record<string, unknown>,
  authInfo: AuthInfo,
): Promise<boolean> {
  const parsed = ListToolsRequestSchema.safeParse(message);
  if (!parsed.success) return false;
  const id = message.id as string | number;
  const answer = await session.hotToolsList({
    id,
    cursor: parsed.data.params?.cursor,
    _meta: parsed.data.params?._meta,
    authInfo,
    headers: req.headers,
    signal: new AbortController().signal,
  });
  if (answer === undefined) return false;
  if (res.destroyed) return true;
  // An event stream, as before: the same page as one JSON body measured slower for the agent and the
  // gateway (docs/performance.md, "JSON answers for hot calls"), for a reason not yet found.
  const event =
    'resultChunks' in answer
      ? [
          Buffer.from('event: message\ndata: {"result":'),
          ...answer.resultChunks,
          Buffer.from(`,"jsonrpc":"2.0","id":${JSON.stringify(id)}}\n\n`),
        ]
      : [Buffer.from(sseEvent({ jsonrpc: '2.0', id, ...answer }))];
  answerEvents(res, sessionId, event);
  return true;
}

/**
 * The whole answer in one write, its length known (the SDK transport streams it, chunked). Written as
 * bytes: Node 20 encodes a large string on every write, which for a 1,000-tool list cost milliseconds.
 */
function answerEvents(res: ServerResponse, sessionId: string, events: Buffer[]): void {
  writeWhole(res, sessionId, events, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
  });
}

/**
 * The answer as one JSON body, which Streamable HTTP lets a server send for a request when the client
 * accepts `application/json` (takes() requires it): the agent reads it without an event-stream parser,
 * which for the SDK client's web-stream SSE parsing is a large part of its own cost per call.
 */
function answerJson(res: ServerResponse, sessionId: string, body: Buffer[]): void {
  writeWhole(res, sessionId, body, { 'content-type': 'application/json' });
}

function writeWhole(res: ServerResponse, sessionId: string, chunks: Buffer[], headers: Record<string, string>): void {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  res.writeHead(200, { 'content-length': length, ...headers, 'mcp-session-id': sessionId });
  res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
}

/** A cancellation of a hot call in flight: aborted here (202); any other goes to the SDK. */
function cancel(session: AgentSession, message: Record<string, unknown>, res: ServerResponse): boolean {
  const params = message.params as { requestId?: unknown } | undefined;
  const requestId = params?.requestId;
  if (typeof requestId !== 'string' && typeof requestId !== 'number') return false;
  const abort = inFlight.get(session)?.get(requestId);
  if (!abort) return false;
  abort.abort(new Error('cancelled by the agent'));
  res.writeHead(202);
  res.end();
  return true;
}

function sseEvent(message: unknown): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}
