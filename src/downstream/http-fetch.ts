import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Statuses whose responses never have a body (a Response with one cannot be built). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
/** What fetch calls a redirect status: with `redirect: 'error'` each is a network error, Location or not. */
const REDIRECT = new Set([301, 302, 303, 307, 308]);
/**
 * A backstop only: response headers must arrive within the longest call deadline a config may set
 * (`timeoutMs`, at most an hour) and 5 s. Each call's own deadline (downstream/forward.ts) is what cancels.
 */
const HEADERS_TIMEOUT_MS = 3_605_000;
/**
 * Idle pooled sockets are closed after this long, before a server that sends no `Keep-Alive: timeout`
 * hint drops them (Node's own server default is 5 s): a request written to a socket the server is
 * closing fails with "socket hang up".
 */
const IDLE_SOCKET_MS = 4_000;

// One pool per gateway process: downstream requests reuse connections, as undici's global pool did.
const agents = {
  'http:': new HttpAgent({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_SOCKET_MS }),
  'https:': new HttpsAgent({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_SOCKET_MS }),
} as const;

/** The gateway's keep-alive pool for a URL's protocol (also used by the hot path, raw-forward.ts). */
export function downstreamAgent(protocol: string): HttpAgent {
  return protocol === 'https:' ? agents['https:'] : agents['http:'];
}

type Aborter = (reason: unknown) => void;
/**
 * One abort listener per signal, whatever the number of requests in flight on it: the SDK gives every
 * request of a connection the same signal, and eleven concurrent ones would otherwise make Node warn.
 */
const aborters = new WeakMap<AbortSignal, Set<Aborter>>();

/** Requests still registered on `signal` (for tests and diagnostics). */
export function requestsWaitingOn(signal: AbortSignal): number {
  return aborters.get(signal)?.size ?? 0;
}

function onAbort(signal: AbortSignal, aborter: Aborter): () => void {
  const set = aborters.get(signal) ?? watch(signal);
  set.add(aborter);
  return () => void set.delete(aborter);
}

/**
 * The signal's one listener, made in a scope of its own: a listener made beside `aborter` would share
 * its closure context, and so keep the first request on the signal (the connection's `initialize`,
 * its socket's request and response) alive for as long as the signal, the downstream session's life.
 */
function watch(signal: AbortSignal): Set<Aborter> {
  const created = new Set<Aborter>();
  aborters.set(signal, created);
  signal.addEventListener(
    'abort',
    () => {
      for (const abort of [...created]) abort(signal.reason);
      created.clear();
    },
    { once: true },
  );
  return created;
}

/**
 * The `fetch` the SDK's HTTP client transports use for downstream servers, on `node:http`.
 *
 * Why not the global fetch: per call, undici's Request/Response machinery was the largest single cost
 * of a governed HTTP→HTTP call after the audit commits (docs/performance.md); and undici adds an abort
 * listener to the signal it is given and drops it only when the request is garbage-collected, while the
 * SDK gives every request of a connection the same signal, so a busy connection collected one listener
 * per call and Node wrote `MaxListenersExceededWarning` (not JSON) into the gateway's log stream. Here
 * one listener serves every request on a signal, and each request leaves it when its body is done.
 *
 * Covers what the transports send: string or byte bodies, any method, headers as `Headers`, a record or
 * pairs. Redirects are never followed: with `redirect: 'error'` (what the gateway always sets) a
 * redirect status fails like fetch's does; otherwise it is returned as it is. No compression is asked
 * for (a configured `Accept-Encoding` is dropped), so bodies arrive as sent. A URL with credentials in
 * it is refused, as fetch refuses it. Anything else falls back to `fallback`. A `bodyFilter` (the
 * downstream size cap, size-cap.ts) sees each body's bytes as they arrive, before the web stream does.
 */
export function nodeFetch(fallback: typeof fetch = globalThis.fetch, options: NodeFetchOptions = {}): typeof fetch {
  return async (input, init) => {
    let url: URL | undefined;
    try {
      url = input instanceof URL ? input : typeof input === 'string' ? new URL(input) : undefined;
    } catch {
      throw new TypeError('fetch failed: invalid URL');
    }
    const body = init?.body;
    const plainBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    if (!url || !plainBody || (url.protocol !== 'http:' && url.protocol !== 'https:')) return fallback(input, init);
    if (url.username !== '' || url.password !== '')
      throw new TypeError('fetch failed: a URL with credentials in it is refused');
    return send(url, init ?? {}, body as string | Uint8Array | undefined | null, options.bodyFilter);
  };
}

/** What a body passes through before it reaches its web stream: bytes in, what the stream gets out. */
export interface BodyFilter {
  write(chunk: Buffer, emit: (part: Buffer) => void): void;
  /** The body ended (not cut short): anything still held. */
  end(emit: (part: Buffer) => void): void;
}

export interface NodeFetchOptions {
  /** The filter for one response's body, by its content type and the request that was sent; none: as it comes. */
  bodyFilter?: (contentType: string | null, init: RequestInit) => BodyFilter | undefined;
}

/** The request's headers as a record; an invalid one is named, never quoted (it may be a credential). */
function requestHeaders(init: RequestInit): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': 'mcp-warden' };
  let source: Headers;
  try {
    source = new Headers(init.headers);
  } catch {
    throw new TypeError('fetch failed: a request header has an invalid name or value');
  }
  source.forEach((value, name) => {
    if (name !== 'accept-encoding') headers[name] = value;
  });
  return headers;
}

function send(
  url: URL,
  init: RequestInit,
  body: string | Uint8Array | undefined | null,
  bodyFilter: NodeFetchOptions['bodyFilter'],
): Promise<Response> {
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(abortError(signal.reason));
  const headers = requestHeaders(init);
  if (body !== undefined && body !== null)
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const agent = agents[url.protocol as 'http:' | 'https:'];

  return new Promise<Response>((resolvePromise, rejectPromise) => {
    // Held only until the promise settles: the request's listeners live as long as its socket, and a
    // settle function reaches the promise and so the Response in it, which must stay collectable.
    let settle: { resolve: (response: Response) => void; reject: (error: Error) => void } | undefined = {
      resolve: resolvePromise,
      reject: rejectPromise,
    };
    let response: IncomingMessage | undefined;
    let leave = (): void => undefined;
    const fail = (error: Error): void => {
      if (!settle) return;
      const { reject } = settle;
      settle = undefined;
      clearTimeout(headersTimer);
      leave();
      reject(error);
    };
    const req: ClientRequest = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      response = res;
      clearTimeout(headersTimer);
      let made: Response;
      try {
        made = toResponse(res, init, leave, bodyFilter);
      } catch (error) {
        // A response fetch would refuse (a redirect under `redirect: 'error'`, a status or reason phrase a
        // Response cannot carry) fails the request; it never escapes as an uncaught exception.
        res.destroy();
        fail(error instanceof TypeError ? error : new TypeError('fetch failed: unusable response', { cause: error }));
        return;
      }
      const resolve = settle?.resolve;
      settle = undefined;
      resolve?.(made);
    });
    const headersTimer = setTimeout(() => {
      req.destroy(new Error(`no response headers within ${HEADERS_TIMEOUT_MS / 1000} s`));
    }, HEADERS_TIMEOUT_MS);
    headersTimer.unref();
    if (signal) {
      leave = onAbort(signal, (reason) => {
        const error = abortError(reason);
        if (response) response.destroy(error);
        else req.destroy(error);
        fail(error);
      });
    }
    req.once('error', (error) => fail(new TypeError('fetch failed', { cause: error })));
    // An upgrade (101) or a socket closed before any response: no 'response', maybe no 'error' either.
    req.once('close', () => {
      if (!response) fail(new TypeError('fetch failed: the connection closed without a response'));
    });
    req.end(body ?? undefined);
  });
}

/** The Response for `res`; its body stream releases the abort listener and the socket when done or cancelled. */
function toResponse(
  res: IncomingMessage,
  init: RequestInit,
  leave: () => void,
  bodyFilter: NodeFetchOptions['bodyFilter'],
): Response {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) throw new TypeError(`fetch failed: unexpected HTTP status ${status}`);
  if (init.redirect === 'error' && REDIRECT.has(status))
    throw new TypeError(`fetch failed: redirect (HTTP ${status}) refused`);
  const responseHeaders = new Headers();
  for (let i = 0; i < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  // A reason phrase with control characters is legal on the wire but not in a Response: dropped, not fatal.
  const statusText = /^[\t\x20-\x7e\x80-\xff]*$/.test(res.statusMessage ?? '') ? (res.statusMessage ?? '') : '';
  if (NULL_BODY.has(status) || init.method === 'HEAD') {
    res.once('close', leave);
    res.resume();
    return new Response(null, { status, statusText, headers: responseHeaders });
  }
  const filter = bodyFilter?.(responseHeaders.get('content-type'), init);
  return new Response(bodyStream(res, leave, filter), { status, statusText, headers: responseHeaders });
}

/**
 * The response body as a web stream, with backpressure. Cancelling it (the SDK cancels every 202 it
 * gets) drains a response that has fully arrived, so its socket goes back to the pool, and destroys
 * one still arriving (an SSE stream). The abort listener is left when the response closes. A filter
 * gets every chunk, and the end of a body that ended whole; what it emits is what the stream gets.
 */
function bodyStream(
  res: IncomingMessage,
  leave: () => void,
  filter: BodyFilter | undefined,
): ReadableStream<Uint8Array> {
  let settled = false; // the web stream is closed, errored or cancelled
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const emit = (part: Buffer): void => controller.enqueue(part);
        const close = (): void => {
          filter?.end(emit);
          controller.close();
        };
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          if (filter) filter.write(chunk, emit);
          else controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) res.pause();
        });
        res.once('end', () => {
          if (settled) return;
          settled = true;
          close();
        });
        res.once('error', (error) => {
          if (settled) return;
          settled = true;
          controller.error(error);
        });
        res.once('close', () => {
          leave();
          if (settled) return;
          // Closed without 'end' or 'error' (a socket reset with no error emitted): the body is cut short.
          settled = true;
          if (res.complete) close();
          else controller.error(new TypeError('terminated: the response ended early'));
        });
      },
      pull() {
        res.resume();
      },
      cancel() {
        settled = true;
        if (res.complete) res.resume();
        else res.destroy();
      },
    },
    { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
  );
}

function abortError(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}
