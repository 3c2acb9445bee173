/** Statuses whose responses never have a body (a Response with one cannot be built). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Gives every request its own abort signal, tied to the caller's for as long as the request or its
 * response body is in use. The SDK's HTTP client transports pass one signal, shared by every request
 * of a connection, to `fetch`; undici adds an abort listener to the signal it is given and drops it
 * only when the request object is garbage-collected, so a busy downstream connection collected a
 * listener per call and Node wrote `MaxListenersExceededWarning` into the gateway's log stream after
 * 1,500. Aborting the caller's signal (the transport closing) still aborts the request and its body.
 */
export function isolateSignals(inner: typeof fetch): typeof fetch {
  return async (input, init) => {
    const parent = init?.signal;
    if (!parent || parent.aborted) return inner(input, init);
    const own = new AbortController();
    const relay = (): void => own.abort(parent.reason);
    parent.addEventListener('abort', relay, { once: true });
    const release = (): void => parent.removeEventListener('abort', relay);
    let response: Response;
    try {
      response = await inner(input, { ...init, signal: own.signal });
    } catch (error) {
      release();
      throw error;
    }
    const body = response.body;
    if (!body || NULL_BODY.has(response.status)) {
      release();
      return response;
    }
    const reader = body.getReader();
    const tracked = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            release();
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          release();
          controller.error(error);
        }
      },
      async cancel(reason) {
        release();
        await reader.cancel(reason);
      },
    });
    return new Response(tracked, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
