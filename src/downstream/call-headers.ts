import { AsyncLocalStorage } from 'node:async_hooks';

// A call's own headers (its secrets, the gateway's trace context) reach the HTTP request that carries
// it through the async context of that one request: the SDK client has no per-request header option.

/** Headers for the downstream request being made now: set around one forwarded request, read by its fetch. */
const callHeaders = new AsyncLocalStorage<Readonly<Record<string, string>>>();

/** Runs `send` so that every HTTP request it makes carries `headers` (and no other call's). */
export function withCallHeaders<T>(headers: Readonly<Record<string, string>>, send: () => Promise<T>): Promise<T> {
  return Object.keys(headers).length === 0 ? send() : callHeaders.run(headers, send);
}

/**
 * A fetch that adds the current call's secret headers, or, for protocol-level requests outside a call
 * (initialize, notifications, the GET stream), the connection's own (`fallback`). Never follows redirects.
 */
export function secretFetch(
  fallback?: () => Promise<Readonly<Record<string, string>>>,
  inner: typeof fetch = globalThis.fetch,
): typeof fetch {
  return async (input, init) => {
    const extra = callHeaders.getStore() ?? (fallback ? await fallback() : {});
    let headers: Headers;
    try {
      headers = new Headers(init?.headers);
      for (const [name, value] of Object.entries(extra)) headers.set(name, value);
    } catch {
      // Never the value in the message: it may be a credential.
      throw new TypeError('fetch failed: a request header has an invalid name or value');
    }
    return inner(input, { ...init, headers, redirect: 'error' });
  };
}
