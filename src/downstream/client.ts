import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { ProtocolEra } from '../model/protocol-era.js';
import type { DownstreamClient } from './modern-client.js';
import { sharedSchemaValidator } from './schema-validator.js';

/**
 * A client for a server spoken to in `era`: the v1 SDK client for 2025, `ModernClient` for 2026-07-28.
 * The v2 client (and the SDK v2 it needs) is imported only when a 2026-era server is connected.
 */
export async function newDownstreamClient(
  era: ProtocolEra,
  capabilities: ClientCapabilities,
): Promise<DownstreamClient> {
  const info = { name: 'mcp-warden', version: '0.1.0' };
  if (era === '2026') {
    const { ModernClient } = await import('./modern-client.js');
    return new ModernClient(info, capabilities).asDownstreamClient();
  }
  return new Client(info, { capabilities, listChanged: undefined, jsonSchemaValidator: sharedSchemaValidator });
}
