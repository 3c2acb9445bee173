// The benchmark's echo server checks the credential the gateway mints for each call with node:crypto
// (one synchronous Ed25519 verify). A check that let a wrong credential through would let a gateway
// that skipped injection post fast wrong answers, so each way a credential can be wrong is tried here,
// over real stdio with the SDK client, against a JWKS file the test writes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const ECHO = join(import.meta.dirname, '../../bench/servers/echo.mjs');
const AUDIENCE = 'urn:test:echo';

let dir: TempDir;
let client: Client;
let key: CryptoKey;
let otherKey: CryptoKey;

beforeAll(async () => {
  dir = await makeTempDir('warden-echo-credential');
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  key = pair.privateKey;
  otherKey = (await generateKeyPair('EdDSA')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' };
  const jwksFile = join(dir.path, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  client = new Client({ name: 'echo-credential-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [ECHO, '--stdio', '--credential', 'required'],
      env: { PATH: process.env.PATH ?? '', BENCH_JWKS_FILE: jwksFile, BENCH_AUDIENCE: AUDIENCE },
      stderr: 'ignore',
    }),
  );
});

afterAll(async () => {
  await client?.close();
  await dir?.cleanup();
});

interface Claims {
  aud?: string;
  sub?: string;
  jti?: string;
  exp?: number;
  nbf?: number;
}

async function mint(claims: Claims, options: { signWith?: CryptoKey; kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const full: Claims = { aud: AUDIENCE, sub: 'agent:a', jti: 'j1', exp: now + 60, ...claims };
  const payload = Object.fromEntries(Object.entries(full).filter(([, value]) => value !== undefined));
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', kid: options.kid ?? 'k1', typ: 'JWT' })
    .sign(options.signWith ?? key);
}

async function call(credential: unknown): Promise<string[]> {
  const result = await client.callTool({
    name: 'echo',
    arguments: { text: 'hi', size: 10, ...(credential !== undefined && { credential }) },
  });
  return (result.content as { text: string }[]).map((item) => item.text);
}

describe('bench echo server: minted credential check', () => {
  it('accepts a credential signed by a published key for its audience', async () => {
    expect(await call(await mint({}))).toEqual(['hiabcdefgh', 'credential:verified']);
  });

  it.each([
    ['no credential', async () => undefined],
    ['not a JWT', async () => 'not-a-token'],
    ['signed by another key under the published kid', async () => mint({}, { signWith: otherKey })],
    ['an unknown kid', async () => mint({}, { kid: 'k2' })],
    ['another audience', async () => mint({ aud: 'urn:test:other' })],
    ['expired', async () => mint({ exp: Math.floor(Date.now() / 1000) - 5 })],
    ['not yet valid', async () => mint({ nbf: Math.floor(Date.now() / 1000) + 600 })],
    ['without a subject', async () => mint({ sub: undefined })],
    ['without a jti', async () => mint({ jti: undefined })],
  ])('refuses %s', async (_what, make) => {
    expect(await call(await make())).toEqual(['credential missing or invalid']);
  });

  it('refuses a credential whose payload was changed after signing', async () => {
    const [header, , signature] = (await mint({})).split('.');
    const forged = Buffer.from(
      JSON.stringify({ aud: AUDIENCE, sub: 'agent:root', jti: 'j1', exp: Math.floor(Date.now() / 1000) + 60 }),
    ).toString('base64url');
    expect(await call(`${header}.${forged}.${signature}`)).toEqual(['credential missing or invalid']);
  });
});
