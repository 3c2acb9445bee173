// The agent's side of stdio as a transport: newline-delimited JSON-RPC on the guarded stdin (stdio-guard.ts
// has already refused lines over the size and JSON limits), answers on stdout. Each line is parsed once
// here; a line that is not JSON, or not one JSON-RPC message, is answered with a JSON-RPC error instead
// of being dropped, and the next line is read as usual. A `route` hook sees every message first, so an
// ingress can take some (2026-07-28 requests) before the 2025 session does.
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { topLevelRequestId } from './json-limits.js';

const NEWLINE = 0x0a;

/** Whether the hook took the message (`handled`) or the connected session should get it (`pass`). */
export type StdioRoute = (message: JSONRPCMessage) => 'handled' | 'pass';

export class StdioWire implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private pending: Buffer[] = [];
  private started = false;
  private closed = false;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly route: StdioRoute = () => 'pass',
  ) {}

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
    this.pending = [];
    this.onclose?.();
  }

  private readonly onInputError = (error: Error): void => {
    this.onerror?.(error);
  };

  private readonly onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (;;) {
      const newline = bytes.indexOf(NEWLINE, start);
      if (newline < 0) {
        if (start < bytes.length) this.pending.push(bytes.subarray(start));
        return;
      }
      this.pending.push(bytes.subarray(start, newline));
      const line = Buffer.concat(this.pending).toString('utf8');
      this.pending = [];
      start = newline + 1;
      this.receive(line);
      if (this.closed) return;
    }
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
    const message = JSONRPCMessageSchema.safeParse(parsed);
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
