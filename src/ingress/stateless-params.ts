// `Mcp-Param-*` headers on a 2026-07-28 `tools/call` (x-mcp-header): an agent that mirrors an argument
// into a header must mirror the argument it sends. Checked against the tool's inputSchema as the agent
// was shown it, before the call runs; a header that disagrees with the body is refused like an
// `Mcp-Name` that does: 400, -32020, recorded under the body's tool. Governance reads only the body.
import type { IncomingHttpHeaders } from 'node:http';
import type { AgentSession } from '../gateway/agent-session.js';
import { paramHeaderProblem, paramHeaders } from '../model/param-headers.js';
import type { EnvelopeRefusal, StatelessRequest } from './stateless-envelope.js';
import { HEADER_MISMATCH } from './stateless-envelope.js';

/**
 * The refusal for a `tools/call` whose `Mcp-Param-*` headers disagree with its arguments, or undefined.
 * Only a tool the principal may see is checked (`visibleNames` lists them; asked only when the tool
 * declares mirrored arguments), so a refusal says nothing about a tool policy hides: that call goes on
 * to be refused as unknown, as any hidden tool is.
 */
export async function paramHeaderRefusal(
  session: AgentSession,
  request: StatelessRequest,
  headers: IncomingHttpHeaders | undefined,
  visibleNames: () => Promise<readonly string[] | undefined>,
): Promise<EnvelopeRefusal | undefined> {
  const name = request.params.name;
  if (request.method !== 'tools/call' || headers === undefined || typeof name !== 'string') return undefined;
  const route = (await session.currentView()).tools.get(name);
  const declared = route && paramHeaders(route.item.inputSchema);
  if (declared === undefined || declared.length === 0) return undefined;
  if (!(await visibleNames())?.includes(name)) return undefined;
  const problem = paramHeaderProblem(declared, request.params.arguments, (lower) => {
    const value = headers[lower];
    return Array.isArray(value) ? value.join(', ') : value;
  });
  if (problem === undefined) return undefined;
  return {
    status: 400,
    code: HEADER_MISMATCH,
    message: `Bad Request: ${problem.message}`,
    data: { mismatch: { header: problem.header, body: 'params.arguments' } },
    id: request.id,
    method: request.method,
    target: name,
    version: request.version,
  };
}
