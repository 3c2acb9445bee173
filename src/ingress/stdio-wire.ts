// The agent's side of stdio as a transport: newline-delimited JSON-RPC on stdin, each line checked against
// the size and JSON limits first (stdio-guard.ts refuses those over them), answers on stdout. Each line is
// decoded and parsed once here, without a stream stage in between; a line that is not JSON, or not one
// JSON-RPC message, is answered with a JSON-RPC error instead of being dropped, and the next line is read
// as usual. A `route` hook sees every message first, so an ingress can take some (2026-07-28 requests)
// before the 2025 session does.
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  JSONRPCMessageSchema,
  JSONRPCRequestSchema,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';
import { topLevelRequestId } from './json-limits.js';
import { guardLines, type StdioLimits } from './stdio-guard.js';

/** Whether the hook took the message (`handled`) or the connected session should get it (`pass`). */
export type StdioRoute = (message: JSONRPCMessage) => 'handled' | 'pass';

export class StdioWire implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private started = false;
  private closed = false;
  private readonly onData: (chunk: Buffer | string) => void;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    limits: StdioLimits,
    private readonly route: StdioRoute = () => 'pass',
  ) {
    const lines = guardLines(output, limits, (text) => {
      if (!this.closed) this.receive(text);
    });
    this.onData = (chunk) => lines(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('StdioWire already started');
    this.started = true;
    this.input.on('data', this.onData);
    this.input.on('error', this.onInputError);
  }

  /** Writes one message as one line, waiting for the pipe to drain when it is full. */
  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || this.output.destroyed) {
        resolve();
        return;
      }
      if (this.output.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.output.once('drain', resolve);
    });
  }

  /** Writes one line already encoded (ending in a newline), waiting for the pipe to drain when it is full. */
  sendLine(line: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || this.output.destroyed) {
        resolve();
        return;
      }
      if (this.output.write(line)) resolve();
      else this.output.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('error', this.onInputError);
    if (this.input.listenerCount('data') === 0) this.input.pause();
    this.onclose?.();
  }

  private readonly onInputError = (error: Error): void => {
    this.onerror?.(error);
  };

  private receive(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.refuse(null, ErrorCode.ParseError, 'Parse error: a line on stdin is not JSON');
      return;
    }
    if (Array.isArray(parsed)) {
      this.refuse(null, ErrorCode.InvalidRequest, 'Invalid Request: batches are not served over stdio');
      return;
    }
    const message = parseMessage(parsed);
    if (!message.success) {
      this.refuse(topLevelRequestId(line), ErrorCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 message');
      return;
    }
    if (this.route(message.data) === 'handled') return;
    this.onmessage?.(message.data);
  }

  private refuse(id: string | number | null, code: number, message: string): void {
    void this.send({ jsonrpc: '2.0', id, error: { code, message } } as unknown as JSONRPCMessage);
  }
}

/**
 * The SDK's `JSONRPCMessageSchema` parse, with the member a request can only be tried first: the union
 * tries its members in order (request, notification, result, error) and returns the first that accepts,
 * and a request is its first member, so the result is the same; only a request is not also tried against
 * the whole union's bookkeeping (a third of the wire's parse of a `tools/call` line).
 */
export function parseMessage(value: unknown): ReturnType<typeof JSONRPCMessageSchema.safeParse> {
  if (typeof value === 'object' && value !== null && 'method' in value && 'id' in value) {
    const request = JSONRPCRequestSchema.safeParse(value);
    if (request.success) return request;
  }
  return JSONRPCMessageSchema.safeParse(value);
}
