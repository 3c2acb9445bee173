import {
  ErrorCode,
  JSONRPCMessageSchema,
  JSONRPCResultResponseSchema,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';

/** The largest message a stdio server may send (the SDK's own stdio cap). */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
/** How much of an oversized line is kept at each end to find its JSON-RPC id. */
const EDGE_BYTES = 256;

export interface FramerEvents {
  message(message: JSONRPCMessage): void;
  /** A line that is not a JSON-RPC message: dropped, the stream goes on. */
  invalid(error: Error): void;
}

/**
 * Splits a stdio server's output into newline-delimited JSON-RPC messages. A line longer than
 * `maxBytes` is never buffered whole: it is skipped up to its newline, and when it was a response
 * whose id can be read at its start or end, that request gets a JSON-RPC error saying the result was
 * too large; the connection (and the server) stay as they are.
 */
export class LineFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private skipping: { head: Buffer; tail: Buffer; bytes: number } | undefined;

  constructor(
    private readonly events: FramerEvents,
    private readonly maxBytes = MAX_MESSAGE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let rest = chunk;
    for (;;) {
      const newline = rest.indexOf(0x0a);
      if (newline === -1) {
        this.hold(rest);
        return;
      }
      this.hold(rest.subarray(0, newline));
      this.endLine();
      rest = rest.subarray(newline + 1);
    }
  }

  private hold(part: Buffer): void {
    if (part.length === 0) return;
    if (this.skipping) {
      this.skipping.bytes += part.length;
      this.skipping.tail = Buffer.concat([this.skipping.tail, part]).subarray(-EDGE_BYTES);
      return;
    }
    this.pending.push(part);
    this.pendingBytes += part.length;
    if (this.pendingBytes > this.maxBytes) {
      const all = Buffer.concat(this.pending);
      this.skipping = { head: all.subarray(0, EDGE_BYTES), tail: all.subarray(-EDGE_BYTES), bytes: all.length };
      this.pending = [];
      this.pendingBytes = 0;
    }
  }

  private endLine(): void {
    const skipped = this.skipping;
    if (skipped) {
      this.skipping = undefined;
      this.tooLarge(skipped);
      return;
    }
    const line = Buffer.concat(this.pending).toString('utf8').replace(/\r$/, '');
    this.pending = [];
    this.pendingBytes = 0;
    if (line.trim() === '') return;
    let message: JSONRPCMessage;
    try {
      message = parseLine(line);
    } catch (error) {
      this.events.invalid(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.events.message(message);
  }

  private tooLarge(skipped: { head: Buffer; tail: Buffer; bytes: number }): void {
    const id = responseId(skipped.head.toString('latin1'), skipped.tail.toString('latin1'));
    if (id === undefined) {
      this.events.invalid(
        new Error(`dropped a message of ${skipped.bytes} bytes or more (over ${this.maxBytes}) that is no response`),
      );
      return;
    }
    this.events.message({
      jsonrpc: '2.0',
      id,
      error: {
        code: ErrorCode.InternalError,
        message: `The result is larger than ${this.maxBytes} bytes (at least ${skipped.bytes}); it was refused`,
      },
    });
  }
}

/**
 * The SDK stdio transport's `deserializeMessage` (JSON.parse, then `JSONRPCMessageSchema.parse`, which
 * throws the same errors), with a result tried first against the one member it can be: the union returns
 * its first member that accepts, and an object without `method` fails the request and notification
 * members, so the answer is the same, without the union's work on every answer the gateway reads.
 */
export function parseLine(line: string): JSONRPCMessage {
  const value: unknown = JSON.parse(line);
  if (typeof value === 'object' && value !== null && 'result' in value && !('method' in value)) {
    const result = JSONRPCResultResponseSchema.safeParse(value);
    if (result.success) return result.data;
  }
  return JSONRPCMessageSchema.parse(value);
}

const ID = String.raw`(-?\d+|"(?:[^"\\]|\\.){0,200}")`;
/** `{"result":…,"jsonrpc":"2.0","id":7}` (the TypeScript SDK's order) or an id near the start (others'). */
const TAIL_ID = new RegExp(String.raw`"id"\s*:\s*${ID}\s*\}\s*$`);
const HEAD_ID = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${ID}\s*,`);

/** The id of an oversized response, read at its start or end (the text of a request or notification has none). */
export function responseId(head: string, tail: string): string | number | undefined {
  if (/^\s*\{\s*"method"/.test(head)) return undefined; // a request or notification, not an answer
  const match = TAIL_ID.exec(tail.replace(/\r$/, '')) ?? HEAD_ID.exec(head);
  if (!match?.[1]) return undefined;
  const raw = match[1];
  return raw.startsWith('"') ? (JSON.parse(raw) as string) : Number(raw);
}
