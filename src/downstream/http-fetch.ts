import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

/** Statuses whose responses never have a body (a Response with one cannot be built). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

// One pool per gateway process: downstream requests reuse connections, as undici's global pool did.
const agents = {
  'http:': new HttpAgent({ keepAlive: true, scheduling: 'lifo' }),
  'https:': new HttpsAgent({ keepAlive: true, scheduling: 'lifo' }),
} as const;

/**
 * The `fetch` the SDK's HTTP client transports use for downstream servers, on `node:http`.
 *
 * Why not the global fetch: per call, undici's Request/Response machinery was the largest single cost
 * of a governed HTTP→HTTP call after the audit commits (docs/performance.md); and undici adds an abort
 * listener to the signal it is given and drops it only when the request is garbage-collected, while the
 * SDK gives every request of a connection the same signal, so a busy connection collected one listener
 * per call and Node wrote `MaxListenersExceededWarning` (not JSON) into the gateway's log stream. Here
 * the listener is removed as soon as the response body is finished or torn down.
 *
 * Covers what the transports send: string or byte bodies, any method, headers as `Headers`, a record or
 * pairs. Redirects are never followed: with `redirect: 'error'` (what the gateway always sets) a 3xx
 * fails like fetch's does; otherwise it is returned as it is. Anything else falls back to `fallback`.
 */
export function nodeFetch(fallback: typeof fetch = globalThis.fetch): typeof fetch {
  return (input, init) => {
    const url = input instanceof URL ? input : typeof input === 'string' ? new URL(input) : undefined;
    const body = init?.body;
    const plainBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    if (!url || !plainBody || (url.protocol !== 'http:' && url.protocol !== 'https:')) return fallback(input, init);
    return send(url, init ?? {}, body as string | Uint8Array | undefined | null);
  };
}

function send(url: URL, init: RequestInit, body: string | Uint8Array | undefined | null): Promise<Response> {
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => {
    headers[name] = value;
  });
  if (body !== undefined && body !== null) headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const agent = agents[url.protocol as 'http:' | 'https:'];

  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    let response: IncomingMessage | undefined;
    const onAbort = (): void => {
      const error = abortError(signal!);
      if (response) response.destroy(error);
      else req.destroy(error);
      if (!settled) {
        settled = true;
        reject(error);
      }
    };
    const release = (): void => signal?.removeEventListener('abort', onAbort);
    const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      response = res;
      res.once('close', release);
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        res.resume();
        settled = true;
        reject(new TypeError(`fetch failed: unexpected HTTP status ${status}`));
        return;
      }
      if (init.redirect === 'error' && status >= 300 && status < 400 && res.headers.location !== undefined) {
        res.resume();
        settled = true;
        reject(new TypeError(`fetch failed: redirect to ${res.headers.location} refused`));
        return;
      }
      const responseHeaders = new Headers();
      for (let i = 0; i < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
      let stream: ReadableStream<Uint8Array> | null = null;
      if (NULL_BODY.has(status) || init.method === 'HEAD') res.resume();
      else stream = Readable.toWeb(res) as ReadableStream<Uint8Array>;
      settled = true;
      resolve(new Response(stream, { status, statusText: res.statusMessage ?? '', headers: responseHeaders }));
    });
    req.once('error', (error) => {
      release();
      if (settled) return;
      settled = true;
      reject(new TypeError('fetch failed', { cause: error }));
    });
    req.once('close', () => {
      if (!response) release();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body ?? undefined);
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}
