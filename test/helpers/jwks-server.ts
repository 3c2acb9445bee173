// A real local JWKS HTTP server for identity tests, with switchable failure modes, and a recorder that
// tells whether anything fetched a URL (jku/x5u must never be fetched).
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

export type JwksMode = 'ok' | 'down' | 'hang' | 'html' | 'huge';

export interface TestKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA';
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
}

export async function makeKey(kid: string, alg: TestKey['alg'] = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export interface JwksServer {
  url: string;
  /** Keys currently published. */
  keys: TestKey[];
  mode: JwksMode;
  /** How many times the JWKS path was requested. */
  fetches: number;
  /** Every path requested, in order. */
  paths: string[];
  close(): Promise<void>;
}

/** Serves `{keys}` at /jwks.json; any other path is recorded and answers 404. */
export async function startJwksServer(keys: TestKey[]): Promise<JwksServer> {
  const state: JwksServer = { url: '', keys, mode: 'ok', fetches: 0, paths: [], close: async () => undefined };
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    state.paths.push(req.url ?? '');
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    state.fetches += 1;
    switch (state.mode) {
      case 'down':
        req.socket.destroy();
        return;
      case 'hang':
        hanging.add(res);
        return;
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Sign in</body></html>');
        return;
      case 'huge':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"keys":[],"padding":"${'x'.repeat(2 * 1024 * 1024)}"}`);
        return;
      case 'ok':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ keys: state.keys.map((k) => k.publicJwk) }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

export interface TokenInput {
  key: TestKey;
  claims?: JWTPayload & Record<string, unknown>;
  header?: Record<string, unknown>;
  /** Remove these claims from the defaults. */
  omit?: string[];
  /** Extension header parameters jose should let through when signing (for `crit` tests). */
  crit?: Record<string, boolean>;
}

/** Signs a token with sensible defaults (iss/aud/sub/iat/exp 5 min) that a case then breaks. */
export async function signToken(defaults: { iss: string; aud: string }, input: TokenInput): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: defaults.iss,
    aud: defaults.aud,
    sub: 'agent:test',
    iat: now,
    exp: now + 300,
    scope: 'mcp',
    jti: randomUUID(),
    ...input.claims,
  };
  for (const name of input.omit ?? []) delete claims[name];
  return new SignJWT(claims as JWTPayload)
    .setProtectedHeader({ alg: input.key.alg, kid: input.key.kid, typ: 'JWT', ...input.header } as never)
    .sign(input.key.privateKey, input.crit ? { crit: input.crit } : undefined);
}

/** A JWT whose header and payload are whatever the test says, with a signature made of `signature` bytes. */
export function forgeToken(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(payload)}.${Buffer.from(signature).toString('base64url')}`;
}
