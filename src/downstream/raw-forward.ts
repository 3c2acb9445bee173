// Over 300 lines: the hot path's downstream half in one file: the HTTP and stdio writes and the reading of the answer (see below).
// The hot path's downstream half (docs/performance.md, "The tools/call hot path"): one JSON-RPC request
// written straight onto a connected server's transport, without the SDK client's protocol layer, and for
// Streamable HTTP without its fetch and web-stream machinery. Everything that is not this request's
// answer (notifications, the server's own requests, answers to the SDK's requests) is handed to the SDK
// client exactly as its transport would have handed it, so progress, logs and relays work as before.
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, JSONRPCMessageSchema, McpError, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { deny, ok, type Outcome } from '../pipeline/denial.js';
import { downstreamAgent } from './http-fetch.js';
import { MAX_MESSAGE_BYTES } from './line-framer.js';
import { mapError, type ForwardOptions } from './forward.js';
import { GroupStdioTransport } from './stdio-transport.js';

/** How a Streamable HTTP transport's requests are addressed: registered by transport.ts when it builds one. */
export interface RawHttpTarget {
  url: URL;
  /**
   * The configured headers and the call's own headers (else the protocol-level secret ones), as its fetch
   * adds them. A plain record when the call brings its own headers (a hot call waits on no promise for
   * them), a promise when the secret ones must be read.
   */
  headers: (
    call: Readonly<Record<string, string>> | undefined,
  ) => Record<string, string> | Promise<Record<string, string>>;
}

/**
 * What every hot request to one registered server shares, worked out once when its transport is
 * registered instead of on every call: Node's request options (so no URL is turned into options per
 * call) and the Host header Node would derive from them.
 */
export interface HttpRoute {
  target: RawHttpTarget;
  send: typeof httpRequest;
  options: RequestOptions;
  /** As Node writes it from the options: IPv6 in brackets, the port unless it is the scheme's default (= `URL.host`). */
  host: string;
  /** A URL with credentials in it, which the SDK path's fetch refuses too (http-fetch.ts): never sent. */
  refused: boolean;
}

const httpTargets = new WeakMap<Transport, HttpRoute>();

export function registerRawHttpTarget(transport: Transport, target: RawHttpTarget): void {
  httpTargets.set(transport, httpRoute(target));
}

/** A target's route (exported for its test: the same request line and Host as node:http makes from the URL). */
export function httpRoute(target: RawHttpTarget): HttpRoute {
  const { url } = target;
  return {
    target,
    send: url.protocol === 'https:' ? httpsRequest : httpRequest,
    // What node:http's urlToHttpOptions makes of the URL, less what a POST here never uses.
    options: {
      protocol: url.protocol,
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      ...(url.port !== '' && { port: Number(url.port) }),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      agent: downstreamAgent(url.protocol),
    },
    host: url.host,
    refused: url.username !== '' || url.password !== '',
  };
}

/**
 * A hot request's headers for node:http. As name/value pairs, which node:http validates and writes as
 * they are (an object is copied into its header store one setHeader at a time), with the Host it would
 * add itself. A configured Host goes as an object instead, as the SDK path sends it: over https the
 * agent takes the TLS server name (SNI) and the name the certificate is checked against from the Host in
 * the header store, which pairs bypass, so both paths must name the same server.
 */
export function requestHeaders(route: HttpRoute, record: Record<string, string>): string[] | Record<string, string> {
  if (record.host !== undefined) return record;
  const headers: string[] = ['host', route.host];
  for (const key in record) headers.push(key, record[key]!);
  return headers;
}

type Answer = { result: unknown } | { error: { code: number; message: string; data?: unknown } };
interface Pending {
  settle: (answer: Answer | Error) => void;
}

/** Answers to this path's requests, caught before the SDK client (which never sent them) sees them. */
interface Interceptor {
  pending: Map<string, Pending>;
  /** The transport's handler as the SDK installed it: everything else goes there. */
  deliver: (message: JSONRPCMessage) => void;
}

const interceptors = new WeakMap<Transport, Interceptor>();
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
let nextId = 0;

function interceptorFor(transport: Transport): Interceptor | undefined {
  const existing = interceptors.get(transport);
  if (existing) return existing;
  const sdkMessage = transport.onmessage;
  if (!sdkMessage) return undefined;
  const pending = new Map<string, Pending>();
  const interceptor: Interceptor = {
    pending,
    deliver: (message) => sdkMessage.call(transport, message),
  };
  transport.onmessage = (message, extra) => {
    const id = (message as { id?: unknown }).id;
    if (typeof id === 'string' && !('method' in message)) {
      const waiting = pending.get(id);
      if (waiting) {
        pending.delete(id);
        waiting.settle(message as unknown as Answer);
        return;
      }
    }
    sdkMessage.call(transport, message, extra);
  };
  const sdkClose = transport.onclose;
  transport.onclose = () => {
    for (const waiting of pending.values())
      waiting.settle(new McpError(ErrorCode.ConnectionClosed, 'Connection closed'));
    pending.clear();
    sdkClose?.call(transport);
  };
  interceptors.set(transport, interceptor);
  return interceptor;
}

/**
 * Sends one request on `client`'s transport without its protocol layer; the answer is mapped to the
 * same outcomes as forward.ts maps the SDK's (deadline, cancellation, JSON-RPC errors, malformed
 * results, a closed connection). Returns undefined when this transport cannot be spoken to this way
 * (a legacy SSE server), before anything is sent: the caller then forwards through the SDK.
 */
export function rawForward<T>(options: ForwardOptions<T>): Promise<Outcome<T>> | undefined {
  const { client, serverId, timeoutMs } = options;
  if (!(client instanceof Client)) return undefined; // a 2026 server's v2 client: the SDK path
  const transport = client.transport;
  if (!transport)
    return Promise.resolve(deny({ kind: 'downstream_closed', server: serverId, reason: 'not connected' }));
  const http = httpTargets.get(transport);
  if (!http && !(transport instanceof GroupStdioTransport)) return undefined; // neither Streamable HTTP nor stdio
  const interceptor = interceptorFor(transport);
  if (!interceptor) return undefined;
  return send(options, client, transport, interceptor, http, timeoutMs);
}

async function send<T>(
  options: ForwardOptions<T>,
  client: Client,
  transport: Transport,
  interceptor: Interceptor,
  http: HttpRoute | undefined,
  timeoutMs: number,
): Promise<Outcome<T>> {
  const { serverId } = options;
  const id = `warden-hot-${process.pid}-${++nextId}`;
  let params = options.params;
  if (params._meta && typeof params._meta === 'object' && 'progressToken' in params._meta) {
    // Never pass the agent's own token through (as forward.ts): progress would come back unroutable.
    const { progressToken: _dropped, ...meta } = params._meta as Record<string, unknown>;
    params = { ...params, _meta: meta };
  }
  const message = { jsonrpc: '2.0', id, method: options.method, params } as JSONRPCMessage;
  let stopHttp: (() => void) | undefined;
  let timedOut = false;
  const answer = await new Promise<Answer | Error>((resolve) => {
    let done = false;
    const finish = (value: Answer | Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      interceptor.pending.delete(id);
      resolve(value);
    };
    const cancel = (reason: unknown): void => {
      if (done) return;
      // As the SDK does on a deadline or the agent's cancellation: the server is told, the answer dropped.
      transport
        .send({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: id, reason: String(reason) },
        })
        .catch(() => undefined);
      stopHttp?.();
      finish(reason instanceof Error ? reason : new Error(String(reason)));
    };
    const onAbort = (): void => cancel(options.signal.reason);
    const timer = setTimeout(() => {
      timedOut = true;
      cancel(new Error('deadline'));
    }, timeoutMs);
    interceptor.pending.set(id, { settle: finish });
    if (options.signal.aborted) return onAbort();
    options.signal.addEventListener('abort', onAbort, { once: true });
    if (http) stopHttp = post(http, options.headers, transport, interceptor, message, id, finish);
    else transport.send(message).catch((error: unknown) => finish(asError(error)));
  });

  if (answer instanceof Error) {
    if (timedOut && !options.signal.aborted)
      return deny({
        kind: 'timeout',
        server: serverId,
        timeoutMs,
        reason: `no answer within ${timeoutMs} ms; cancelled downstream`,
      });
    if (options.signal.aborted) throw options.signal.reason ?? answer;
    if (client.transport === undefined)
      return deny({ kind: 'downstream_closed', server: serverId, reason: 'not connected' });
    return deny(mapError(serverId, answer));
  }
  if ('error' in answer) {
    const { code, message: text, data } = answer.error ?? {};
    if (typeof code === 'number' && typeof text === 'string')
      return deny(mapError(serverId, new McpError(code, text, data)));
  }
  const parsed = options.resultSchema.safeParse((answer as { result?: unknown }).result);
  if (!parsed.success) return deny(mapError(serverId, parsed.error));
  return ok(parsed.data);
}

/**
 * POSTs one message on the gateway's keep-alive pool, as the SDK transport would (its session and
 * version headers, the configured and secret ones), and feeds every message of the answer (one JSON
 * body or an event stream) to the transport's handler, where this request's own answer is caught.
 * Returns a function that abandons the request.
 */
function post(
  route: HttpRoute,
  callHeaders: Readonly<Record<string, string>> | undefined,
  transport: Transport,
  interceptor: Interceptor,
  message: JSONRPCMessage,
  id: string,
  fail: (error: Error) => void,
): () => void {
  const body = JSON.stringify(message);
  let abandoned = false;
  let destroy = (): void => {
    abandoned = true;
  };
  const sdk = transport as { sessionId?: string; protocolVersion?: string };
  // As the SDK transport: a failed POST is also the transport's error (the connection then probes the server).
  const failed = (error: Error): void => {
    if (!abandoned) transport.onerror?.(error);
    fail(error);
  };
  const write = (configured: Readonly<Record<string, string>>): void => {
    if (abandoned) return;
    if (route.refused) return failed(new TypeError('fetch failed: a URL with credentials in it is refused'));
    const record: Record<string, string> = { 'user-agent': 'mcp-warden' };
    if (sdk.sessionId) record['mcp-session-id'] = sdk.sessionId;
    if (sdk.protocolVersion) record['mcp-protocol-version'] = sdk.protocolVersion;
    for (const name in configured) {
      const key = name.toLowerCase();
      if (key !== 'accept-encoding') record[key] = configured[name]!;
    }
    record['content-type'] = 'application/json';
    record.accept = 'application/json, text/event-stream';
    record['content-length'] = String(Buffer.byteLength(body));
    let req: ReturnType<typeof httpRequest>;
    try {
      req = route.send({ ...route.options, headers: requestHeaders(route, record) }, (res) =>
        receive(res, interceptor, id, failed),
      );
    } catch {
      failed(new TypeError('fetch failed: a request header has an invalid name or value'));
      return;
    }
    destroy = () => {
      abandoned = true;
      req.destroy();
    };
    req.once('error', (error) => failed(new TypeError('fetch failed', { cause: error })));
    req.end(body);
  };
  let configured: Record<string, string> | Promise<Record<string, string>>;
  try {
    configured = route.target.headers(callHeaders);
  } catch (error) {
    fail(asError(error));
    return () => destroy();
  }
  if (configured instanceof Promise) configured.then(write, (error: unknown) => fail(asError(error)));
  else write(configured);
  return () => destroy();
}

/** The first Content-Type of a response, as `headers['content-type']` gives it, without building every header. */
function contentType(res: IncomingMessage): string | undefined {
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.length === 12 && raw[i]!.toLowerCase() === 'content-type') return raw[i + 1];
  return undefined;
}

/** Reads the answer to one POST: JSON or an event stream; a message over the stdio cap fails this request. */
function receive(res: IncomingMessage, interceptor: Interceptor, id: string, fail: (error: Error) => void): void {
  const status = res.statusCode ?? 0;
  const declared = contentType(res);
  const type = (declared ?? '').toLowerCase();
  const events = type.startsWith('text/event-stream');
  if (status < 200 || status >= 300) {
    readAll(res, (text) => fail(new Error(`Streamable HTTP error: Error POSTing to endpoint: ${text}`.slice(0, 2000))));
    return;
  }
  if (status === 202) {
    res.resume(); // the answer will come on the server's GET stream, through the SDK transport
    return;
  }
  if (!events && !type.startsWith('application/json')) {
    res.resume();
    fail(new Error(`Unexpected content type: ${declared ?? ''}`));
    return;
  }
  const tooLarge = (bytes: number): void => {
    res.destroy();
    interceptor.pending.get(id)?.settle({
      error: {
        code: ErrorCode.InternalError,
        message: `The result is larger than ${MAX_MESSAGE_BYTES} bytes (at least ${bytes}); it was refused`,
      },
    });
  };
  const deliver = (text: string): void => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return; // as the SDK transport: a message that is not JSON is an error of the stream, not of the call
    }
    for (const one of Array.isArray(parsed) ? parsed : [parsed])
      if (typeof one === 'object' && one !== null) deliverOne(interceptor, one as JSONRPCMessage);
  };
  if (!events) {
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_MESSAGE_BYTES) return tooLarge(bytes);
      chunks.push(chunk);
    });
    res.once('end', () => deliver(Buffer.concat(chunks).toString('utf8')));
    res.once('error', () => fail(new TypeError('terminated: the response ended early')));
    return;
  }
  // An event stream: `data:` lines up to a blank line make one message. Read as bytes (no decoder on the
  // stream): lines end at '\n', which never falls inside a UTF-8 sequence, and each `data:` value is decoded
  // once. The cap counts an event's bytes, every line with its line end, as size-cap.ts does on the SDK path.
  const parts: Buffer[] = []; // the line being read, as far as earlier chunks brought it
  let partBytes = 0;
  let data: string[] = [];
  let eventBytes = 0;
  const line = (text: Buffer): void => {
    const end = text.length > 0 && text[text.length - 1] === CR ? text.length - 1 : text.length;
    if (end === 0) {
      if (data.length > 0) deliver(data.join('\n'));
      data = [];
      eventBytes = 0;
    } else if (end >= 5 && text.toString('latin1', 0, 5) === 'data:')
      data.push(text.toString('utf8', text[5] === SPACE ? 6 : 5, end));
  };
  res.on('data', (chunk: Buffer) => {
    let start = 0;
    let newline: number;
    while ((newline = chunk.indexOf(LF, start)) !== -1) {
      eventBytes += partBytes + newline + 1 - start;
      if (eventBytes > MAX_MESSAGE_BYTES) return tooLarge(eventBytes);
      let text = chunk.subarray(start, newline);
      if (partBytes > 0) {
        parts.push(text);
        text = Buffer.concat(parts, partBytes + text.length);
        parts.length = 0;
        partBytes = 0;
      }
      start = newline + 1;
      line(text);
    }
    if (start < chunk.length) {
      parts.push(chunk.subarray(start));
      partBytes += chunk.length - start;
      if (eventBytes + partBytes > MAX_MESSAGE_BYTES) tooLarge(eventBytes + partBytes);
    }
  });
  res.once('end', () => {
    if (data.length > 0) deliver(data.join('\n'));
  });
  res.once('close', () => {
    if (!res.complete) fail(new TypeError('terminated: the response ended early'));
  });
}

function deliverOne(interceptor: Interceptor, message: JSONRPCMessage): void {
  const id = (message as { id?: unknown }).id;
  if (typeof id === 'string' && !('method' in message)) {
    const waiting = interceptor.pending.get(id);
    if (waiting) {
      interceptor.pending.delete(id);
      waiting.settle(message as unknown as Answer);
      return;
    }
  }
  // Everything else reaches the SDK client as its transport would pass it: checked first.
  if (JSONRPCMessageSchema.safeParse(message).success) interceptor.deliver(message);
}

function readAll(res: IncomingMessage, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  res.on('data', (chunk: Buffer) => {
    if (bytes < 4096) chunks.push(chunk);
    bytes += chunk.length;
  });
  res.once('end', () => done(Buffer.concat(chunks).toString('utf8')));
  res.once('error', () => done(''));
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
