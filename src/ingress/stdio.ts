import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Gateway } from '../gateway/gateway.js';
import type { Principal } from '../model/principal.js';
import { guardStdin, type StdioLimits } from './stdio-guard.js';

export interface StdioIngress {
  /** Resolves when the agent host closes stdin or the transport closes. */
  closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * One agent session over this process's stdin/stdout (how Claude Desktop and similar hosts run servers).
 * stdout carries only protocol messages; everything else goes to stderr. Each message passes the same
 * size, depth, key and value limits as on HTTP before the SDK parses it.
 */
export async function startStdioIngress(
  gateway: Gateway,
  principalOf: () => Promise<Principal | undefined>,
  limits: StdioLimits,
): Promise<StdioIngress> {
  const session = gateway.createSession({
    ingress: 'stdio',
    principalOf: () => principalOf(),
    owner: () => principalOf(),
  });
  const transport = new StdioServerTransport(guardStdin(process.stdin, process.stdout, limits), process.stdout);
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  transport.onclose = () => markClosed();
  process.stdin.once('end', () => markClosed());
  process.stdin.once('close', () => markClosed());
  await session.server.connect(transport);
  return {
    closed,
    async close() {
      await session.close();
      markClosed();
    },
  };
}
