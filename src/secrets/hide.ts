import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { secretsForCall, type ServerSecrets } from '../config/secrets-schema.js';
import type { HiddenArguments } from '../model/catalog.js';

/** The arguments the gateway fills in for a tool (by its downstream name). */

export function hiddenArgumentsOf(use: ServerSecrets | undefined): HiddenArguments {
  if (!use) return () => [];
  return (tool) => Object.keys(secretsForCall(use, tool).arguments);
}

/** A tool as the agent sees it: arguments the gateway fills in are absent from its input schema. */
export function hideArguments(tool: Tool, hidden: readonly string[]): Tool {
  if (hidden.length === 0) return tool;
  const schema = tool.inputSchema;
  const properties: Record<string, object> = { ...(schema.properties ?? {}) };
  for (const name of hidden) delete properties[name];
  const required = schema.required?.filter((name) => !hidden.includes(name));
  return { ...tool, inputSchema: { ...schema, properties, ...(required && { required }) } };
}
