import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  InitializeRequestSchema,
  type InitializeRequest,
  type InitializeResult,
} from '@modelcontextprotocol/sdk/types.js';

/**
 * Tells `negotiated` the protocol version each `initialize` is answered with. The SDK's `Server`
 * answers initialize in a method it does not export (`_oninitialize`) and keeps the version to itself;
 * its answer is unchanged here, only read. An SDK without that method fails at start, not silently.
 */
export function watchNegotiatedVersion(server: Server, negotiated: (version: string) => void): void {
  const answer = (server as unknown as { _oninitialize?: (request: InitializeRequest) => Promise<InitializeResult> })
    ._oninitialize;
  if (typeof answer !== 'function')
    throw new Error(
      '@modelcontextprotocol/sdk Server has no _oninitialize: the negotiated protocol version cannot be read',
    );
  server.setRequestHandler(InitializeRequestSchema, async (request) => {
    const result = await answer.call(server, request);
    negotiated(result.protocolVersion);
    return result;
  });
}
