#!/usr/bin/env node
// The downstream for `npm run bench`: an MCP server with one `echo` tool whose result size is chosen by
// the caller, plus N inert extra tools (for the tools/list section). Modes:
//   node bench/servers/echo.mjs --stdio [--tools N] [--credential required]
//   node bench/servers/echo.mjs --http --port 0 [--tools N] [--credential required]
// With `--credential required` it checks the credential the gateway mints for each call against the
// gateway's published keys (BENCH_JWKS_FILE, audience BENCH_AUDIENCE): over HTTP the Authorization
// header of every request; over stdio the hidden `credential` argument of each echo call. A call
// without a valid one fails, so a gateway that skipped injection could not post a fast wrong answer.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createPublicKey, randomUUID, verify } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { payloadFor } from '../lib/payload.mjs';
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
const jwksFile = process.env.BENCH_JWKS_FILE ?? process.env.MCP_WARDEN_JWKS_FILE;
if (requireCredential && !jwksFile) fail('--credential required needs BENCH_JWKS_FILE');
/** The gateway's published Ed25519 keys by kid as node:crypto keys (the file is re-read for an unknown kid). */
let publicKeys = requireCredential ? loadJwks(jwksFile) : new Map();

function fail(message) {
  process.stderr.write(`echo: ${message}\n`);
  process.exit(2);
}

function loadJwks(path) {
  const keys = new Map();
  for (const jwk of JSON.parse(readFileSync(path, 'utf8')).keys ?? []) {
    if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && typeof jwk.kid === 'string')
      keys.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
  }
  return keys;
}

function claimsOf(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/**
 * True when `token` is a compact JWS signed by the gateway (EdDSA, a published kid) whose claims name
 * this audience, a subject and a jti, and whose time window holds now. A real downstream verifies too,
 * but the suite measures the gateway, so the check is as cheap as a correct one can be: one synchronous
 * Ed25519 verify with node:crypto (jose goes through WebCrypto, a thread-pool round trip per call).
 */
function credentialValid(token) {
  if (typeof token !== 'string') return false;
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  try {
    const header = claimsOf(parts[0]);
    if (header.alg !== 'EdDSA' || typeof header.kid !== 'string') return false;
    if (!publicKeys.has(header.kid)) publicKeys = loadJwks(jwksFile);
    const key = publicKeys.get(header.kid);
    if (!key || !verify(null, Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'), key, Buffer.from(parts[2], 'base64url')))
      return false;
    const claims = claimsOf(parts[1]);
    const now = Math.floor(Date.now() / 1000);
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (
      !audiences.includes(audience) ||
      typeof claims.sub !== 'string' ||
      typeof claims.jti !== 'string' ||
      typeof claims.exp !== 'number'
    )
      return false;
    return claims.exp > now && (typeof claims.nbf !== 'number' || claims.nbf <= now);
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
      const ok = values.http ? extra.authInfo?.clientId === 'minted' : credentialValid(args.credential);
      if (!ok) return { content: [{ type: 'text', text: 'credential missing or invalid' }], isError: true };
      credential = 'verified';
    }
    // BENCH_ECHO_FAULT=short: a deliberately wrong answer, so a test can prove the suite notices one.
    const payload = process.env.BENCH_ECHO_FAULT === 'short' ? payloadFor(text, size).slice(1) : payloadFor(text, size);
    return {
      content: [
        { type: 'text', text: payload },
        { type: 'text', text: `credential:${credential}` },
      ],
    };
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
        if (!credentialValid(token))
          return void res.writeHead(401, { 'content-type': 'text/plain' }).end('minted credential required\n');
        req.auth = { token, clientId: 'minted', scopes: [] };
      }
      const id = req.headers['mcp-session-id'];
      let transport = typeof id === 'string' ? sessions.get(id) : undefined;
      if (transport === undefined) {
        if (typeof id === 'string')
          return void res
            .writeHead(404, { 'content-type': 'application/json' })
            .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
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
