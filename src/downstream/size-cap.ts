import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import type { BodyFilter } from './http-fetch.js';
import { MAX_MESSAGE_BYTES, responseId } from './line-framer.js';

/** How much of an oversized message is kept at each end to find its JSON-RPC id. */
const EDGE_BYTES = 256;
const NEWLINE = 0x0a;

/**
 * The cap for one response to an HTTP downstream: no message over `maxBytes` (the stdio cap). An
 * oversized JSON body, or an oversized event of an event stream, is skipped without being buffered
 * whole, and when it was a response (id from the request that was sent, else read at its start or
 * end) that request gets a `-32603` error saying the result was too large, as a stdio server's would
 * (line-framer.ts). The connection, and the server, stay as they are. None for a body that is neither
 * JSON nor an event stream.
 */
export function capFor(
  contentType: string | null,
  init: RequestInit | undefined,
  maxBytes = MAX_MESSAGE_BYTES,
): BodyFilter | undefined {
  const type = (contentType ?? '').toLowerCase();
  const events = type.startsWith('text/event-stream');
  if (!events && !type.startsWith('application/json')) return undefined;
  const requestBody = typeof init?.body === 'string' ? init.body : undefined;
  return messageCap({ events, maxBytes, requestId: () => singleRequestId(requestBody) });
}

/**
 * The cap (capFor) around any fetch, as one more stream stage. The node:http fetch applies it as the
 * body arrives instead (http-fetch.ts `bodyFilter`): a stage of its own, on a downstream session's
 * event stream open as long as the session, was one more TransformStream and pipe per session.
 */
export function sizeCappedFetch(inner: typeof fetch, maxBytes = MAX_MESSAGE_BYTES): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    const cap = response.body ? capFor(response.headers.get('content-type'), init, maxBytes) : undefined;
    if (!cap || !response.body) return response;
    const capped = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          cap.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), (part) => controller.enqueue(part));
        },
        flush(controller) {
          cap.end((part) => controller.enqueue(part));
        },
      }),
    );
    return new Response(capped, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

interface CapOptions {
  /** An event stream (messages between blank lines), or one JSON body (one message up to its end). */
  events: boolean;
  maxBytes: number;
  /** The id of the one request this response answers, when it is known. */
  requestId: () => string | number | undefined;
}

/**
 * A body filter (http-fetch.ts): passes whole messages on as they complete; an oversized one becomes an
 * error answer (or nothing).
 */
function messageCap({ events, maxBytes, requestId }: CapOptions): BodyFilter {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let skipping: { head: Buffer; tail: Buffer; bytes: number } | undefined;
  let lineEmpty = true; // the line being read has had nothing but '\r' so far

  const hold = (part: Buffer): void => {
    if (part.length === 0) return;
    if (skipping) {
      skipping.bytes += part.length;
      skipping.tail = Buffer.concat([skipping.tail, part]).subarray(-EDGE_BYTES);
      return;
    }
    pending.push(part);
    pendingBytes += part.length;
    if (pendingBytes > maxBytes) {
      const all = Buffer.concat(pending);
      skipping = { head: all.subarray(0, EDGE_BYTES), tail: all.subarray(-EDGE_BYTES), bytes: all.length };
      pending = [];
      pendingBytes = 0;
    }
  };
  /** The message read so far is complete: passed on, or replaced by its refusal. */
  const endMessage = (emit: (part: Buffer) => void): void => {
    const skipped = skipping;
    skipping = undefined;
    if (!skipped) {
      if (pendingBytes > 0) emit(Buffer.concat(pending));
      pending = [];
      pendingBytes = 0;
      return;
    }
    const refusal = refusalFor(skipped, requestId(), maxBytes, events);
    if (refusal) emit(Buffer.from(events ? `event: message\ndata: ${refusal}\n\n` : refusal));
  };

  return {
    write(chunk, emit) {
      let rest = chunk;
      if (!events) {
        hold(rest);
        return;
      }
      for (;;) {
        const newline = rest.indexOf(NEWLINE);
        if (newline === -1) {
          if (rest.some((byte) => byte !== 0x0d)) lineEmpty = false;
          hold(rest);
          return;
        }
        const line = rest.subarray(0, newline + 1);
        const blank = lineEmpty && line.every((byte) => byte === 0x0d || byte === NEWLINE);
        hold(line);
        lineEmpty = true;
        // A blank line ends an event.
        if (blank) endMessage(emit);
        rest = rest.subarray(newline + 1);
      }
    },
    end(emit) {
      endMessage(emit);
    },
  };
}

/** The JSON-RPC error that replaces an oversized response; none for a message that is no response. */
function refusalFor(
  skipped: { head: Buffer; tail: Buffer; bytes: number },
  known: string | number | undefined,
  maxBytes: number,
  events: boolean,
): string | undefined {
  // An event's JSON starts after its field names (`event: message`, `id: …`, `data: `).
  const head = skipped.head.toString('latin1');
  const json = events ? head.slice(head.indexOf('data:') + 5).trimStart() : head;
  if (/^\{\s*"method"/.test(json)) return undefined; // a request or notification, not an answer
  const tail = skipped.tail.toString('latin1').replace(/\s+$/, '');
  const id = known ?? responseId(json, tail);
  if (id === undefined) return undefined;
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    error: {
      code: ErrorCode.InternalError,
      message: `The result is larger than ${maxBytes} bytes (at least ${skipped.bytes}); it was refused`,
    },
  });
}

/** The id of a POST body holding one JSON-RPC request (what the SDK's client transports send). */
function singleRequestId(body: string | undefined): string | number | undefined {
  if (body === undefined) return undefined;
  try {
    const message = JSON.parse(body) as { id?: unknown; method?: unknown };
    return typeof message.method === 'string' && (typeof message.id === 'string' || typeof message.id === 'number')
      ? message.id
      : undefined;
  } catch {
    return undefined;
  }
}
