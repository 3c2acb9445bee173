// Signing keys on PostgreSQL (issue 19): each replica has its own key file in its own data folder; with
// the shared store every replica publishes its keys' public halves and verifies a token of the built-in
// issuer signed by any replica, including one signed with a key rotated in after start.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthSchema, type JwtAuthConfig } from '../../src/config/schema.js';
import { issueToken } from '../../src/identity/issue.js';
import { OtherReplicaKeys } from '../../src/identity/jwks.js';
import { buildVerifier } from '../../src/identity/setup.js';
import type { TokenVerifier } from '../../src/identity/verify.js';
import { PostgresStoreSchema } from '../../src/config/store-schema.js';
import { KeyStore } from '../../src/state/keys.js';
import { openPgStore, type PgStore } from '../../src/state/pg/open.js';
import { PublishedKeys } from '../../src/state/pg/published-keys.js';
import { PgSharedState } from '../../src/state/pg/shared.js';
import { usePostgres } from '../helpers/postgres.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';

const db = usePostgres();
const ISSUER = 'urn:mcp-warden:replicas';
const RESOURCE = 'http://replicas.test/mcp';

interface Replica {
  keys: KeyStore;
  verifier: TokenVerifier;
  store: PgStore;
  published: PublishedKeys;
}

let dir: TempDir;
const replicas: Replica[] = [];
beforeAll(async () => {
  dir = await makeTempDir('warden-shared-keys');
});
afterAll(async () => {
  for (const replica of replicas) {
    replica.published.close();
    await replica.store.close();
  }
  await dir?.cleanup();
});

const auth = AuthSchema.parse({ mode: 'jwt', resource: RESOURCE, builtin: { issuer: ISSUER } }) as JwtAuthConfig;

async function replica(name: string): Promise<Replica> {
  const keys = new KeyStore(join(dir.path, name));
  await keys.init(Date.now());
  const otherKeys = new OtherReplicaKeys();
  const verifier = buildVerifier({ auth, baseDir: dir.path, keys, defaultResource: RESOURCE, otherKeys });
  const config = PostgresStoreSchema.parse({ kind: 'postgres', url: db.url, schema: 'shared_keys' });
  const store = await openPgStore(config, dir.path);
  const published = new PublishedKeys(new PgSharedState(store.pool), store.link, keys);
  await published.start();
  otherKeys.use(published);
  const made = { keys, verifier, store, published };
  replicas.push(made);
  return made;
}

async function tokenOf(by: Replica): Promise<string> {
  const settings = { issuer: ISSUER, audience: RESOURCE, maxLifetimeSeconds: 3_600 };
  return (await issueToken(by.keys, settings, { subject: 'agent-1', ttlSeconds: 600 }, by.verifier, Date.now())).token;
}

describe('signing keys shared by replicas on PostgreSQL', () => {
  it("a token signed by one replica's key verifies on the other; one of a key nobody published does not", async () => {
    const a = await replica('a');
    const b = await replica('b');
    // b started after a: a hears b's key announced.
    await waitFor(() => a.published.jwks(Date.now(), 0).length === 2, "b's key to reach a", 1_000);
    expect(await b.verifier.verify(await tokenOf(a))).toMatchObject({ ok: true });
    expect(await a.verifier.verify(await tokenOf(b))).toMatchObject({ ok: true });
    const stranger = new KeyStore(join(dir.path, 'stranger'));
    await stranger.init(Date.now());
    const outsider = await issueToken(
      stranger,
      { issuer: ISSUER, audience: RESOURCE, maxLifetimeSeconds: 3_600 },
      { subject: 'agent-1', ttlSeconds: 600 },
      a.verifier,
      Date.now(),
    );
    expect(await b.verifier.verify(outsider.token)).toMatchObject({ ok: false });
  });

  it("a key rotated in on one replica verifies on the other from that replica's next look at its key file (every second)", async () => {
    const [a, b] = replicas as [Replica, Replica];
    await a.keys.rotate(Date.now());
    const token = await tokenOf(a);
    await waitFor(async () => (await b.verifier.verify(token)).ok, 'the rotated key to verify on b', 3_000);
  });
});
