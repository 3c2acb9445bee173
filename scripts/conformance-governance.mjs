// Governance on for the conformance runs through the gateway (scripts/conformance.mjs). The suite cannot
// send a bearer token, so it talks to a small proxy here that adds one to every request: a short-lived
// ES256 JWT of the suite's own issuer, signed with a key made for this run, whose public half is the
// JWKS file the conformance configs trust (a request without one is refused: checked before the runs,
// refusesWithoutToken). After a gateway's runs,
// its audit log (a data folder of its own for this run) is read back: every record must be the suite's
// principal's, with the calls the suite made in it.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest, createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/** What the conformance configs trust (test/fixtures/conformance*.config.json, auth). */
export const SUITE_ISSUER = 'urn:mcp-warden:conformance-suite';
export const SUITE_SUBJECT = 'conformance-suite';
const RESOURCE = 'http://127.0.0.1/conformance';
const JWKS_FILE = '.warden/conformance-suite.jwks.json';
/** A token lives 5 minutes and is replaced after 1: every request carries one well inside its life. */
const TOKEN_TTL_S = 300;
const TOKEN_REUSE_MS = 60_000;

/** Makes this run's key, publishes its public half where the configs look, and returns a token source. */
export async function suiteSigner(root) {
  const kid = `conformance-${randomUUID()}`;
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const path = join(root, JWKS_FILE);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`);
  let current;
  return async () => {
    const now = Date.now();
    if (current && now - current.at < TOKEN_REUSE_MS) return current.token;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(SUITE_ISSUER)
      .setSubject(SUITE_SUBJECT)
      .setAudience(RESOURCE)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + TOKEN_TTL_S)
      .setJti(randomUUID())
      .sign(privateKey);
    current = { token, at: now };
    return token;
  };
}

/**
 * A proxy on a free loopback port that forwards every request to `targetUrl`'s origin with
 * `Authorization: Bearer <token>` added (any the suite sent is replaced), and streams the answer back
 * as it comes (SSE included). Resolves with its URL (the target's path) and a close function.
 */
export async function startAuthProxy(targetUrl, token) {
  const target = new URL(targetUrl);
  const open = new Set();
  const server = createServer((req, res) => {
    void token().then(
      (bearer) => {
        const headers = { ...req.headers, host: target.host, authorization: `Bearer ${bearer}` };
        const upstream = httpRequest(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
        // The suite gives up on a stream (it reads a few frames and aborts): so does the proxy.
        res.on('close', () => {
          if (!res.writableFinished) upstream.destroy();
        });
        req.pipe(upstream);
      },
      () => res.writeHead(500).end('conformance proxy: no token'),
    );
  });
  server.on('connection', (socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  await new Promise((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    close: () =>
      new Promise((resolveClose) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolveClose());
      }),
  };
}

/**
 * Governance is on only if the gateway refuses the suite without its token: one 2025 initialize sent
 * straight to the gateway, with no Authorization header, must be answered 401. Returns the problem, if any.
 */
export async function refusesWithoutToken(gatewayUrl) {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'no-token', version: '1' } },
  });
  let status;
  try {
    status = await new Promise((resolveStatus, reject) => {
      const target = new URL(gatewayUrl);
      const req = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: 'POST',
          path: target.pathname,
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          timeout: 30_000,
        },
        (res) => {
          res.resume();
          resolveStatus(res.statusCode);
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
      req.on('error', reject);
      req.end(body);
    });
  } catch (error) {
    return `a request without a token could not be sent: ${error.message}`;
  }
  return status === 401 ? undefined : `a request without a token was answered HTTP ${status}, not 401`;
}

/**
 * Reads back a stopped gateway's audit log (its data folder of this run): the records, each with its
 * subject. Returns a one-line summary, and problems: a record of another principal, or (when the run was
 * to make calls: every scenario) no calls at all.
 */
export async function auditSummary(root, config, dataDir, expectCalls = true) {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['bin/mcp-warden.js', 'audit', 'export', '--format', 'jsonl', '--config', config],
    { cwd: root, env: { ...process.env, MCP_WARDEN_DATA_DIR: dataDir }, maxBuffer: 256 * 1024 * 1024 },
  );
  const records = stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
  const count = (predicate) => records.filter(predicate).length;
  const strangers = records.filter((r) => r.subject !== SUITE_SUBJECT || r.intent?.principal?.issuer !== SUITE_ISSUER);
  const calls = count((r) => r.method === 'tools/call');
  const problems = [];
  if (strangers.length > 0) {
    const who = [...new Set(strangers.map((r) => `${r.subject} (${r.intent?.principal?.issuer ?? 'no issuer'})`))];
    problems.push(`${strangers.length} audit records of another principal: ${who.join(', ')}`);
  }
  if (expectCalls && calls === 0) problems.push('no tools/call in the audit log');
  const byMethod = new Map();
  for (const r of records) byMethod.set(r.method, (byMethod.get(r.method) ?? 0) + 1);
  const methods = [...byMethod].sort((a, b) => b[1] - a[1]).map(([method, n]) => `${n} ${method}`);
  const summary =
    `${records.length} records, ${records.length - strangers.length} by ${SUITE_SUBJECT} (${SUITE_ISSUER}); ` +
    `${count((r) => r.decision === 'deny')} refused (unknown or hidden targets, malformed retries)` +
    (methods.length > 0 ? `; ${methods.join(', ')}` : '');
  return { summary, problems };
}
