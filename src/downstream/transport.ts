import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ServerConfig } from '../config/schema.js';
import type { Logger } from 'pino';
import { cleanLabel } from '../model/sanitize.js';
import type { ProtocolEra } from '../model/protocol-era.js';
import { secretFetch } from './call-headers.js';
import { registerRawHttpTarget } from './raw-forward.js';
import { nodeFetch } from './http-fetch.js';
import { capFor, sizeCappedFetch } from './size-cap.js';
import { GroupStdioTransport } from './stdio-transport.js';

export interface TransportTarget {
  /** For launched HTTP and SSE servers: the address the supervisor gave it, and the credential it was started with. */
  url?: string;
  headers?: Readonly<Record<string, string>>;
  /** Secret headers for protocol-level requests; a call's own come with its request (`ForwardOptions.headers`, call-headers.ts). */
  secretHeaders?: () => Promise<Readonly<Record<string, string>>>;
  /** The egress stage's text scrubber, applied to stderr lines before they are cut to length. */
  redact: (text: string) => string;
}

const MAX_STDERR_LINE = 2000;
/**
 * Downstream HTTP requests go through node:http (src/downstream/http-fetch.ts), not undici, and no
 * message in their answers may pass the stdio cap (size-cap.ts): applied as each body arrives, and
 * around the global fetch for the requests node:http does not cover.
 */
const downstreamFetch = nodeFetch(
  sizeCappedFetch((input, init) => globalThis.fetch(input, init)),
  { bodyFilter: (contentType, init) => capFor(contentType, init) },
);

/** `node` means the very Node.js that runs the gateway, so a host's PATH cannot swap it. */
export function resolveCommand(command: string, baseDir: string): string {
  if (command === 'node') return process.execPath;
  if (command.includes('/') || command.startsWith('.')) return resolve(baseDir, command);
  return command;
}

/**
 * Builds the client transport for one connection. Stdio children get argv with no shell and a minimal
 * environment (the SDK's short list of inherited variables plus what the config names); HTTP clients
 * never follow a redirect. A 2026-era HTTP server gets the SDK v2 transport, which sets the 2026 headers
 * (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`) from each message; stdio is the same
 * pipe in either era.
 */
export async function createClientTransport(
  serverId: string,
  spec: ServerConfig,
  baseDir: string,
  logger: Logger,
  target: TransportTarget,
  era: ProtocolEra = '2025',
): Promise<Transport> {
  switch (spec.transport) {
    case 'stdio': {
      // Its own process group: closing it reaches every process the server started (stdio-transport.ts).
      const transport = new GroupStdioTransport({
        command: resolveCommand(spec.command, baseDir),
        args: spec.args,
        env: { ...getDefaultEnvironment(), ...spec.env },
        cwd: resolve(baseDir, spec.cwd ?? '.'),
      });
      relayStderr(
        transport.stderr,
        logger.child({ server: serverId, stream: 'stderr' }),
        target.redact,
        () => transport.closeRequested,
      );
      return transport;
    }
    case 'http': {
      const headers = { ...spec.headers, ...target.headers };
      if (era === '2026') {
        // The SDK v2 is imported only for a 2026-era server.
        const { modernHttpTransport } = await import('./modern-client.js');
        return modernHttpTransport(new URL(target.url ?? spec.url), {
          requestInit: { headers, redirect: 'error' },
          fetch: secretFetch(target.secretHeaders, downstreamFetch),
        });
      }
      // The SDK's HTTP client transports (and their OAuth and event-stream modules) only for HTTP servers.
      const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
      const url = new URL(target.url ?? spec.url);
      const transport = new StreamableHTTPClientTransport(url, {
        requestInit: { headers, redirect: 'error' },
        fetch: secretFetch(target.secretHeaders, downstreamFetch),
      });
      // The hot path's requests carry the same headers as this transport's fetch adds (raw-forward.ts).
      registerRawHttpTarget(transport, {
        url,
        headers: (call) =>
          call && Object.keys(call).length > 0
            ? { ...headers, ...call }
            : target.secretHeaders
              ? target.secretHeaders().then((secret) => ({ ...headers, ...secret }))
              : { ...headers },
      });
      return transport;
    }
    case 'sse': {
      const headers = { ...spec.headers, ...target.headers };
      const { SSEClientTransport } = await import('@modelcontextprotocol/sdk/client/sse.js');
      return new SSEClientTransport(new URL(target.url ?? spec.url), {
        requestInit: { headers, redirect: 'error' },
        fetch: secretFetch(target.secretHeaders, downstreamFetch),
        eventSourceInit: {
          fetch: (url, init) => {
            // The SDK's headers for the event stream (its Accept: text/event-stream, and the configured
            // ones) come as a Headers object: kept as they are, the configured ones set again except an
            // Accept, which must stay the stream's.
            const merged = new Headers(init?.headers);
            for (const [name, value] of Object.entries(headers))
              if (name.toLowerCase() !== 'accept') merged.set(name, value);
            return secretFetch(target.secretHeaders, downstreamFetch)(url, { ...init, headers: merged }).then(
              releaseRefusedStream,
            );
          },
        },
      });
    }
  }
}

/**
 * A downstream's stderr becomes log lines, cleaned and length-capped: it is untrusted text. Lines that
 * arrive once the gateway has asked the child to go (`closing`) are logged at debug.
 */
export function relayStderr(
  stream: NodeJS.ReadableStream,
  logger: Logger,
  redact: (text: string) => string,
  closing: () => boolean = () => false,
): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => {
    // Cleaned (escapes, invisible characters) and redacted before the cut, so no fragment of a secret survives it.
    const text = redact(cleanLabel(line)).slice(0, MAX_STDERR_LINE);
    if (text.length === 0) return;
    if (closing()) logger.debug({ line: text }, 'downstream stderr');
    else logger.info({ line: text }, 'downstream stderr');
  });
  lines.on('error', () => undefined);
}

/**
 * The SSE client gives up on an event stream the server refused (not 200, or not an event stream)
 * without reading or cancelling its body, which would hold the socket open: the body is cancelled here
 * and the client gets the status and headers it decides on.
 */
export async function releaseRefusedStream(response: Response): Promise<Response> {
  const contentType = response.headers.get('content-type') ?? '';
  if (response.status === 200 && contentType.toLowerCase().startsWith('text/event-stream')) return response;
  await response.body?.cancel().catch(() => undefined);
  return new Response(null, { status: response.status, statusText: response.statusText, headers: response.headers });
}
