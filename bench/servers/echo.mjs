#!/usr/bin/env node
// The downstream for `npm run bench`: an MCP server with one `echo` tool whose result size is chosen by
// the caller, plus N inert extra tools (for the tools/list section). Modes:
//   node bench/servers/echo.mjs --stdio [--tools N] [--credential required]
//   node bench/servers/echo.mjs --http --port 0 [--tools N] [--credential required]
// With `--credential required` it checks the credential the gateway mints for each call against the
// gateway's published keys (BENCH_JWKS_FILE, audience BENCH_AUDIENCE): over HTTP the Authorization
// header of every request; over stdio the hidden `credential` argument of each echo call. A call
// without a valid one fails, so a gateway that skipped injection could not post a fast wrong answer.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { payloadFor } from '../lib/payload.mjs';
// Loaded only when used, so a stdio server (one per session in the churn section) starts sooner.
let jose;

const { values } = parseArgs({
  options: {
    stdio: { type: 'boolean', default: false },
    http: { type: 'boolean', default: false },
    port: { type: 'string', default: process.env.PORT ?? '0' },
    tools: { type: 'string', default: '0' },
    credential: { type: 'string', default: 'none' },
    run: { type: 'string' },
  },
});
const extraTools = Number(values.tools);
const requireCredential = values.credential === 'required';
if (values.stdio === values.http) fail('choose exactly one of --stdio and --http');
if (!Number.isInteger(extraTools) || extraTools < 0) fail('--tools must be a whole number');
if (!['none', 'required'].includes(values.credential)) fail('--credential must be none or required');

const audience = process.env.BENCH_AUDIENCE ?? 'urn:mcp-warden:bench-echo';
if (requireCredential) jose = await import('jose');
const jwks = requireCredential ? loadJwks(process.env.BENCH_JWKS_FILE ?? process.env.MCP_WARDEN_JWKS_FILE) : undefined;

function fail(message) {
  process.stderr.write(`echo: ${message}\n`);
  process.exit(2);
}

function loadJwks(path) {
  if (!path) fail('--credential required needs BENCH_JWKS_FILE');
  return jose.createLocalJWKSet(JSON.parse(readFileSync(path, 'utf8')));
}

/** True when `token` is a JWT signed by the gateway for this audience and not expired. */
async function credentialValid(token) {
  if (typeof token !== 'string' || token.split('.').length !== 3) return false;
  try {
    await jose.jwtVerify(token, jwks, { audience, algorithms: ['EdDSA'], requiredClaims: ['sub', 'exp', 'jti'] });
    return true;
  } catch {
    return false;
  }
}

const ECHO = {
  name: 'echo',
  description: 'Returns `text` padded to exactly `size` bytes (ASCII).',
  inputSchema: {
    type: 'object',
    properties: {
      text: { type: 'string', maxLength: 200 },
      size: { type: 'integer', minimum: 1, maximum: 4_194_304 },
      ...(requireCredential && values.stdio && { credential: { type: 'string', description: 'set by the gateway' } }),
    },
    required: ['text', 'size'],
  },
};
const TOOLS = [
  ECHO,
  ...Array.from({ length: extraTools }, (_, i) => ({
    name: `tool_${String(i).padStart(4, '0')}`,
    description: `Extra tool ${i} of ${extraTools}; it only exists to be listed.`,
    inputSchema: { type: 'object', properties: { q: { type: 'string' } } },
  })),
];

function newServer() {
  const server = new Server({ name: 'bench-echo', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: args = {} } = request.params;
    if (name !== 'echo') return { content: [{ type: 'text', text: `not callable: ${name}` }], isError: true };
    const { text, size } = args;
    if (typeof text !== 'string' || !Number.isInteger(size) || size < text.length) {
      return { content: [{ type: 'text', text: 'bad arguments' }], isError: true };
    }
    let credential = 'none';
    if (requireCredential) {
      // HTTP: the request was refused before reaching here unless its header verified.
      const ok = values.http ? extra.authInfo?.clientId === 'minted' : await credentialValid(args.credential);
      if (!ok) return { content: [{ type: 'text', text: 'credential missing or invalid' }], isError: true };
      credential = 'verified';
    }
    // BENCH_ECHO_FAULT=short: a deliberately wrong answer, so a test can prove the suite notices one.
    const payload = process.env.BENCH_ECHO_FAULT === 'short' ? payloadFor(text, size).slice(1) : payloadFor(text, size);
    return { content: [{ type: 'text', text: payload }, { type: 'text', text: `credential:${credential}` }] };
  });
  return server;
}

if (values.stdio) {
  const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
  await newServer().connect(new StdioServerTransport());
} else {
  const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
  const sessions = new Map();
  const http = createServer(async (req, res) => {
    try {
      if ((req.url ?? '').split('?')[0] !== '/mcp') return void res.writeHead(404).end();
      if (requireCredential) {
        const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (!(await credentialValid(token))) return void res.writeHead(401, { 'content-type': 'text/plain' }).end('minted credential required\n');
        req.auth = { token, clientId: 'minted', scopes: [] };
      }
      const id = req.headers['mcp-session-id'];
      let transport = typeof id === 'string' ? sessions.get(id) : undefined;
      if (transport === undefined) {
        if (typeof id === 'string') return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (sid) => sessions.set(sid, transport),
        });
        transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
        await newServer().connect(transport);
      }
      await transport.handleRequest(req, res);
    } catch (error) {
      process.stderr.write(`echo: ${error instanceof Error ? error.message : String(error)}\n`);
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  http.listen(Number(values.port), '127.0.0.1', () => {
    process.stdout.write(`echo listening on http://127.0.0.1:${http.address().port}/mcp\n`);
  });
  const stop = () => {
    for (const transport of sessions.values()) void transport.close();
    http.close();
    http.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Launched by a gateway: its stdin pipe closes when the gateway dies.
  if (process.env.MCP_WARDEN_SUPERVISED === '1') process.stdin.on('close', stop).resume();
}
