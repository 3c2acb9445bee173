// A verified token is not trusted forever: once its key is gone from the issuer's key set, the cached
// verification lapses within the re-verification window and the token is refused. Real JWKS file, real
// verifier and authenticator, with one injected clock.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JwtAuthenticator } from '../../src/identity/authenticator.js';
import { fileKeySource } from '../../src/identity/jwks.js';
import { TokenVerifier } from '../../src/identity/verify.js';
import { makeKey, signToken } from '../helpers/jwks-server.js';
import { makeTempDir } from '../helpers/process.js';

const ISS = 'https://issuer.test';
const AUD = 'http://127.0.0.1:1/mcp';

describe('verified-token cache', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('re-verifies after the window: a key removed from the JWKS stops admitting its tokens', async () => {
    const dir = await makeTempDir('reverify');
    cleanups.push(dir.cleanup);
    const file = join(dir.path, 'jwks.json');
    const [key, other] = [await makeKey('k1', 'EdDSA'), await makeKey('k2', 'EdDSA')];
    writeFileSync(file, JSON.stringify({ keys: [key.publicJwk, other.publicJwk] }));
    let now = Date.now();
    const clock = () => now;
    const verifier = new TokenVerifier(
      { clockSkewSeconds: 30, maxTokenLifetimeSeconds: 3600, resource: AUD },
      [{ issuer: ISS, algorithms: ['EdDSA'], source: fileKeySource(file) }],
      clock,
    );
    const authenticator = new JwtAuthenticator(verifier, [], () => undefined, clock);
    const token = await signToken({ iss: ISS, aud: AUD }, { key, claims: { sub: 'alice' } });
    const bearer = { authorization: `Bearer ${token}` };

    expect((await authenticator.authenticate(bearer)).ok).toBe(true);
    writeFileSync(file, JSON.stringify({ keys: [other.publicJwk] })); // k1 withdrawn by the issuer
    now += 1_000;
    expect((await authenticator.authenticate(bearer)).ok).toBe(true); // still inside the window: cached
    now += 30_000;
    const refused = await authenticator.authenticate(bearer);
    expect(refused).toMatchObject({ ok: false, status: 401 });
  });

  it('keeps the 1,024 most recently used verifications: a token in use is not dropped for newer ones', async () => {
    const dir = await makeTempDir('reverify-lru');
    cleanups.push(dir.cleanup);
    const file = join(dir.path, 'jwks.json');
    const [key, other] = [await makeKey('k1', 'EdDSA'), await makeKey('k2', 'EdDSA')];
    writeFileSync(file, JSON.stringify({ keys: [key.publicJwk, other.publicJwk] }));
    const clock = () => 1_000_000_000_000;
    const verifier = new TokenVerifier(
      { clockSkewSeconds: 30, maxTokenLifetimeSeconds: 3600, resource: AUD },
      [{ issuer: ISS, algorithms: ['EdDSA'], source: fileKeySource(file) }],
      () => Date.now(),
    );
    const authenticator = new JwtAuthenticator(verifier, [], () => undefined, clock);
    const bearer = async (sub: string) => ({
      authorization: `Bearer ${await signToken({ iss: ISS, aud: AUD }, { key, claims: { sub } })}`,
    });
    const first = await bearer('first');
    const second = await bearer('second');
    expect((await authenticator.authenticate(first)).ok).toBe(true);
    expect((await authenticator.authenticate(second)).ok).toBe(true);
    for (let i = 0; i < 1_022; i += 1)
      expect((await authenticator.authenticate(await bearer(`agent-${i}`))).ok).toBe(true);
    expect((await authenticator.authenticate(first)).ok).toBe(true); // used again: now the most recent
    expect((await authenticator.authenticate(await bearer('one-more'))).ok).toBe(true); // the 1,025th drops one
    writeFileSync(file, JSON.stringify({ keys: [other.publicJwk] })); // k1 withdrawn: only cached tokens pass
    expect((await authenticator.authenticate(first)).ok).toBe(true);
    expect(await authenticator.authenticate(second)).toMatchObject({ ok: false, status: 401 });
  });
});
