import { Transform, type Readable, type Writable } from 'node:stream';
import { checkJsonLimits, jsonLimitError, topLevelRequestId, type JsonLimits } from './json-limits.js';

export interface StdioLimits extends JsonLimits {
  /** Longest message (one line) in bytes. */
  maxBytes: number;
}

const NEWLINE = 0x0a;

/**
 * The agent's stdin with the same edge limits as the HTTP ingress: each newline-delimited message is
 * checked on its raw text (size, depth, keys, values) before the SDK parses it. A message over a limit
 * never reaches the SDK; the refusal is written to `output` as a JSON-RPC error answering its id.
 */
export function guardStdin(input: Readable, output: Writable, limits: StdioLimits): Readable {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let oversized = false;

  const refuse = (id: string | number | null, code: number, message: string): void => {
    output.write(`${JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } })}\n`);
  };

  const append = (part: Buffer): void => {
    if (oversized || part.length === 0) return;
    if (pendingBytes + part.length > limits.maxBytes) {
      oversized = true;
      pending = [];
      pendingBytes = 0;
      return;
    }
    pending.push(part);
    pendingBytes += part.length;
  };

  const endLine = (): Buffer | undefined => {
    const wasOversized = oversized;
    const line = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    oversized = false;
    if (wasOversized) {
      refuse(null, -32600, `Message larger than ${limits.maxBytes} bytes`);
      return undefined;
    }
    const text = line.toString('utf8');
    const breach = checkJsonLimits(text, limits);
    if (breach) {
      const { code, message } = jsonLimitError(breach);
      refuse(topLevelRequestId(text), code, message);
      return undefined;
    }
    return line;
  };

  const guarded = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      let start = 0;
      for (;;) {
        const newline = chunk.indexOf(NEWLINE, start);
        if (newline < 0) {
          append(chunk.subarray(start));
          break;
        }
        append(chunk.subarray(start, newline));
        const line = endLine();
        if (line) this.push(Buffer.concat([line, Buffer.from('\n')]));
        start = newline + 1;
      }
      done();
    },
  });
  input.on('error', (error) => guarded.destroy(error));
  return input.pipe(guarded);
}
