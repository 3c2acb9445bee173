import type { Tool } from '@modelcontextprotocol/sdk/types.js';

/** A tool as the agent sees it: arguments the gateway fills in are absent from its input schema. */
export function hideArguments(tool: Tool, hidden: readonly string[]): Tool {
  if (hidden.length === 0) return tool;
  const schema = tool.inputSchema;
  const properties: Record<string, object> = { ...(schema.properties ?? {}) };
  for (const name of hidden) delete properties[name];
  const required = schema.required?.filter((name) => !hidden.includes(name));
  return { ...tool, inputSchema: { ...schema, properties, ...(required && { required }) } };
}
