// Token verification through the real gateway process over real HTTP, with real local JWKS servers.
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import {
  forgeToken,
  makeKey,
  signToken,
  startJwksServer,
  type JwksServer,
  type TestKey,
} from '../helpers/jwks-server.js';
import { mcpHeaders, rawRequest, type RawResponse } from '../helpers/raw-http.js';

const RESOURCE = 'http://gateway.test/mcp';
const IDP = 'https://idp.test';

let gateway: RunningGateway;
let idp: JwksServer;
let down: JwksServer;
let hang: JwksServer;
let html: JwksServer;
let huge: JwksServer;
let recorder: JwksServer;
let rsa: TestKey;
let ec: TestKey;
const std = { iss: IDP, aud: RESOURCE };

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'jwt-test', version: '1' } },
});

function initialize(token: string | undefined, path = '/mcp'): Promise<RawResponse> {
  return rawRequest(gateway.origin, {
    method: 'POST',
    path,
    headers: mcpHeaders({
      host: new URL(gateway.origin).host,
      ...(token !== undefined && { authorization: `Bearer ${token}` }),
    }),
    body: INIT,
  });
}

beforeAll(async () => {
  rsa = await makeKey('rsa-1', 'RS256');
  ec = await makeKey('ec-1', 'ES256');
  idp = await startJwksServer([rsa, ec]);
  down = await startJwksServer([rsa]);
  down.mode = 'down';
  hang = await startJwksServer([rsa]);
  hang.mode = 'hang';
  html = await startJwksServer([rsa]);
  html.mode = 'html';
  huge = await startJwksServer([rsa]);
  huge.mode = 'huge';
  recorder = await startJwksServer([]);
  const remote = (issuer: string, server: JwksServer, extra: Record<string, unknown> = {}) => ({
    issuer,
    jwksUri: `${server.url}/jwks.json`,
    algorithms: ['RS256', 'ES256'],
    jwksCooldownSeconds: 0,
    jwksTimeoutMs: 1000,
    ...extra,
  });
  gateway = await startGateway({
    auth: {
      mode: 'jwt',
      resource: RESOURCE,
      requiredScopes: ['mcp'],
      maxTokenLifetimeSeconds: 3600,
      issuers: [
        remote(IDP, idp),
        remote('https://down.test', down),
        remote('https://hang.test', hang, { jwksTimeoutMs: 500 }),
        remote('https://html.test', html),
        remote('https://huge.test', huge),
      ],
    },
    servers: { fx: fixtureServer() },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await Promise.all([idp, down, hang, html, huge, recorder].map((s) => s?.close()));
});

describe('valid tokens', () => {
  it('accepts RS256 and ES256 tokens from the trusted issuer', async () => {
    for (const key of [rsa, ec]) {
      const response = await initialize(await signToken(std, { key }));
      expect(response.status).toBe(200);
      expect(response.headers['mcp-session-id']).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    }
  });
});

describe('refused tokens', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases: [string, () => Promise<string>][] = [
    ...['none', 'None', 'NONE', 'nOnE'].map(
      (alg) =>
        [
          `alg ${alg}`,
          async () =>
            forgeToken({ alg, kid: 'rsa-1' }, { ...std, sub: 'agent:x', iat: now(), exp: now() + 60, scope: 'mcp' }),
        ] as [string, () => Promise<string>],
    ),
    [
      'HS256 signed with the RSA public key',
      async () => {
        const pem = createPublicKey({ key: rsa.publicJwk as never, format: 'jwk' }).export({
          type: 'spki',
          format: 'pem',
        });
        return new SignJWT({ ...std, sub: 'agent:x', scope: 'mcp' })
          .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(String(pem)));
      },
    ],
    ['expired', () => signToken(std, { key: rsa, claims: { iat: now() - 600, exp: now() - 300 } })],
    ['nbf in the future', () => signToken(std, { key: rsa, claims: { nbf: now() + 600 } })],
    ['iat in the future', () => signToken(std, { key: rsa, claims: { iat: now() + 600, exp: now() + 900 } })],
    ['wrong aud', () => signToken(std, { key: rsa, claims: { aud: 'http://other.test/mcp' } })],
    ['wrong iss', () => signToken(std, { key: rsa, claims: { iss: 'https://evil.test' } })],
    ['unknown kid', () => signToken(std, { key: { ...rsa, kid: 'nope' } })],
    [
      'embedded jwk header',
      async () => {
        const attacker = await generateKeyPair('RS256');
        return signToken(std, {
          key: { ...rsa, privateKey: attacker.privateKey },
          header: { jwk: await exportJWK(attacker.publicKey) },
        });
      },
    ],
    ['jku header', () => signToken(std, { key: rsa, header: { jku: `${recorder.url}/jku` } })],
    ['x5u header', () => signToken(std, { key: rsa, header: { x5u: `${recorder.url}/x5u` } })],
    [
      'unknown crit',
      () =>
        signToken(std, {
          key: rsa,
          header: { crit: ['urn:example:unknown'], 'urn:example:unknown': true },
          crit: { 'urn:example:unknown': true },
        }),
    ],
    ['kid with path traversal', () => signToken(std, { key: { ...rsa, kid: '../../../etc/passwd' } })],
    ['missing sub', () => signToken(std, { key: rsa, omit: ['sub'] })],
    ['missing exp', () => signToken(std, { key: rsa, omit: ['exp'] })],
    ['lifetime over the maximum', () => signToken(std, { key: rsa, claims: { exp: now() + 7200 } })],
    [
      'signature of another key',
      async () => signToken(std, { key: { ...rsa, privateKey: (await generateKeyPair('RS256')).privateKey } }),
    ],
    ['garbage', async () => 'not.a.jwt'],
    // A NUL reaches no decision: cache keys are joined with it, and PostgreSQL's text cannot hold one.
    ['NUL in sub', () => signToken(std, { key: rsa, claims: { sub: 'agent:a\u0000agent:b' } })],
    ['NUL in the task id', () => signToken(std, { key: rsa, claims: { task: { id: 't\u0000', grants: ['x'] } } })],
    ['NUL in a claim name', () => signToken(std, { key: rsa, claims: { ['team\u0000']: 'ops' } })],
  ];

  it.each(cases)('%s → 401 with a challenge and no token contents', async (_name, make) => {
    const token = await make();
    const response = await initialize(token);
    expect(response.status).toBe(401);
    expect(String(response.headers['www-authenticate'])).toMatch(
      /^Bearer realm="mcp-warden", resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp", error="invalid_token"/,
    );
    const payload = token.split('.')[1] ?? '';
    if (payload.length > 8) expect(response.text).not.toContain(payload);
    expect(response.text).not.toMatch(/jose|JWS|JWT[A-Z]|stack/);
  });

  it('never fetched a jku or x5u URL', () => {
    expect(recorder.paths).toEqual([]);
  });

  it('no Authorization header → 401 pointing at the resource metadata', async () => {
    const response = await initialize(undefined);
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(
      /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/,
    );
  });

  it('a token without the required scope → 403 insufficient_scope', async () => {
    const response = await initialize(await signToken(std, { key: rsa, claims: { scope: 'other' } }));
    expect(response.status).toBe(403);
    expect(response.headers['www-authenticate']).toMatch(/error="insufficient_scope", scope="mcp"/);
  });

  it('a token in the query string is refused even when valid', async () => {
    const token = await signToken(std, { key: rsa });
    const response = await initialize(undefined, `/mcp?access_token=${token}`);
    expect(response.status).toBe(400);
    expect(response.text).toContain('query string');
  });
});

describe('sessions belong to their principal', () => {
  it('refuses a valid token of another subject on the session', async () => {
    const opened = await initialize(await signToken(std, { key: rsa, claims: { sub: 'agent:alice' } }));
    const sessionId = String(opened.headers['mcp-session-id']);
    const ping = (token: string) =>
      rawRequest(gateway.origin, {
        method: 'POST',
        headers: mcpHeaders({
          host: new URL(gateway.origin).host,
          authorization: `Bearer ${token}`,
          'mcp-session-id': sessionId,
          'mcp-protocol-version': '2025-11-25',
        }),
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
      });
    const mallory = await ping(await signToken(std, { key: rsa, claims: { sub: 'agent:mallory' } }));
    expect(mallory.status).toBe(403);
    const alice = await ping(await signToken(std, { key: rsa, claims: { sub: 'agent:alice' } }));
    expect(alice.status).toBe(200);
  });
});

describe('JWKS availability', () => {
  it('picks up a rotated key at the IdP without a restart', async () => {
    const next = await makeKey('rsa-2', 'RS256');
    idp.keys = [rsa, ec, next];
    const response = await initialize(await signToken(std, { key: next }));
    expect(response.status).toBe(200);
  });

  it('keeps working from the cache while the JWKS endpoint is down', async () => {
    expect((await initialize(await signToken(std, { key: rsa }))).status).toBe(200);
    idp.mode = 'down';
    try {
      expect((await initialize(await signToken(std, { key: rsa }))).status).toBe(200);
    } finally {
      idp.mode = 'ok';
    }
  });

  it.each([
    ['down with no cached key', 'https://down.test'],
    ['hanging (bounded by the timeout)', 'https://hang.test'],
    ['returning HTML', 'https://html.test'],
    ['returning a huge body', 'https://huge.test'],
  ])('JWKS %s → 503, and the gateway stays up', async (_name, iss) => {
    const started = Date.now();
    const response = await initialize(await signToken({ iss, aud: RESOURCE }, { key: rsa }));
    expect(response.status).toBe(503);
    // Bounded: the hanging issuer's jwksTimeoutMs is 500 ms; an unbounded wait would never answer. The
    // margin is for a loaded machine, not a measure of speed.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(response.text).not.toMatch(/jose|stack|ECONN/);
    expect((await initialize(await signToken(std, { key: rsa }))).status).toBe(200);
  });
});

describe('protected resource metadata (RFC 9728)', () => {
  it.each(['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp'])(
    '%s names the resource and issuers',
    async (path) => {
      const response = await rawRequest(gateway.origin, {
        method: 'GET',
        path,
        headers: { host: new URL(gateway.origin).host },
      });
      expect(response.status).toBe(200);
      const metadata = JSON.parse(response.text) as Record<string, unknown>;
      expect(metadata.resource).toBe(RESOURCE);
      expect(metadata.authorization_servers).toContain(IDP);
      expect(metadata.bearer_methods_supported).toEqual(['header']);
    },
  );
});
