import { issueToken } from '../identity/issue.js';
import type { JwtSetup } from './identity.js';

const DEMO_SUBJECT = 'agent:demo';
/**
 * The MCP Inspector 2.x needs Node >= 22.19 (0.16 and later need >= 22.7.5; none runs on Node 20), so the
 * command brings its own Node 22 from npm, as the conformance script does.
 */
export const INSPECTOR = 'npx -y -p node@22 -p @modelcontextprotocol/inspector@2.12.0 mcp-inspector';

/**
 * `serve --demo` (what `npm start` runs): after the ready line, prints to stderr a token for a demo agent
 * and the exact commands to use it. stdout keeps its one line.
 */
export async function printDemo(jwt: JwtSetup | undefined, url: string): Promise<void> {
  if (!jwt?.auth.builtin) {
    process.stderr.write(
      `\nmcp-warden demo: the gateway is at ${url} (no built-in issuer configured, so no demo token).\n\n`,
    );
    return;
  }
  const ttl = Math.min(3600, jwt.auth.maxTokenLifetimeSeconds);
  const { token, claims } = await issueToken(
    jwt.keys,
    { issuer: jwt.auth.builtin.issuer, audience: jwt.resource, maxLifetimeSeconds: jwt.auth.maxTokenLifetimeSeconds },
    { subject: DEMO_SUBJECT, ttlSeconds: ttl, scopes: jwt.auth.requiredScopes },
    jwt.verifier,
    Date.now(),
  );
  const expires = new Date((claims.exp ?? 0) * 1000).toISOString();
  process.stderr.write(
    [
      '',
      '──────────────────────────────────────────────────────────────────────────────',
      ` mcp-warden is ready at ${url}`,
      ` Demo agent "${DEMO_SUBJECT}", token valid until ${expires}:`,
      '',
      `   export WARDEN_TOKEN=${token}`,
      '',
      ' List the tools, then call one (MCP Inspector CLI; it runs on a Node 22 fetched by npx):',
      `   ${INSPECTOR} --cli --server-url ${url} \\`,
      '     --header "Authorization: Bearer $WARDEN_TOKEN" --method tools/list',
      `   ${INSPECTOR} --cli --server-url ${url} \\`,
      '     --header "Authorization: Bearer $WARDEN_TOKEN" --method tools/call \\',
      '     --tool-name notes__search_notes --tool-arg query=hello',
      '',
      ' Under the default policy (policies/default.yaml) notes are read-only and tickets are written only',
      ' inside a task: call warden__begin_task {purpose, tools: ["tickets__create_ticket"]} first.',
      '',
      ' Tokens for other agents: npx mcp-warden token issue --sub agent:NAME --ttl 15m',
      '──────────────────────────────────────────────────────────────────────────────',
      '',
    ].join('\n'),
  );
}
