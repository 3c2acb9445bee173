import { checkJsonLimits, jsonLimitError, topLevelRequestId, type JsonLimits } from './json-limits.js';

export interface StdioLimits extends JsonLimits {
  /** Longest message (one line) in bytes. */
  maxBytes: number;
}

const NEWLINE = 0x0a;

/**
 * The agent's stdin with the same edge limits as the HTTP ingress: the returned function takes stdin's
 * chunks, splits them into newline-delimited messages and checks each on its raw text (size, depth,
 * keys, values) before anything parses it. A message over a limit never reaches `line`; the refusal is
 * written to `output` as a JSON-RPC error answering its id. A message within the limits is handed to
 * `line` as its text (without the newline), decoded once.
 */
export function guardLines(
  output: { write(text: string): unknown },
  limits: StdioLimits,
  line: (text: string) => void,
): (chunk: Buffer) => void {
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

  const endLine = (): string | undefined => {
    const wasOversized = oversized;
    const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    oversized = false;
    if (wasOversized) {
      refuse(null, -32600, `Message larger than ${limits.maxBytes} bytes`);
      return undefined;
    }
    const text = bytes.toString('utf8');
    const breach = checkJsonLimits(text, limits);
    if (breach) {
      const { code, message } = jsonLimitError(breach);
      refuse(topLevelRequestId(text), code, message);
      return undefined;
    }
    return text;
  };

  return (chunk) => {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline < 0) {
        append(chunk.subarray(start));
        return;
      }
      append(chunk.subarray(start, newline));
      const text = endLine();
      if (text !== undefined) line(text);
      start = newline + 1;
    }
  };
}
