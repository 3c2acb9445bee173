// `store copy --from sqlite --to postgres` for the audit log: an existing audit.db (calls, a prune anchor,
// checkpoints, an intent left open) moved to a real PostgreSQL, verified there exactly as the file was.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activeSigner } from '../../src/audit/checkpoints.js';
import { copySqliteAuditToPg } from '../../src/audit/pg/copy.js';
import { openPgAuditStore } from '../../src/audit/pg/open.js';
import { verifyPgChain } from '../../src/audit/pg/verify.js';
import { pruneBefore } from '../../src/audit/prune.js';
import { auditFile, openAuditDb } from '../../src/audit/store.js';
import { verifyChain } from '../../src/audit/verify.js';
import { KeyStore } from '../../src/state/keys.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { ALLOW, callContext, openSink, recordCall } from './helpers.js';
import { testSchema, type TestSchema } from './pg-helpers.js';

let pgdb: TestSchema;
let dir: TempDir;
beforeAll(async () => {
  pgdb = await testSchema();
  dir = await makeTempDir('warden-store-copy');
});
afterAll(async () => {
  await dir.cleanup();
  await pgdb.drop();
});

describe('store copy: the audit log from SQLite to PostgreSQL', () => {
  it('moves every entry, checkpoint and anchor unchanged; the copy verifies; a second copy is refused', async () => {
    const dataDir = join(dir.path, 'data');
    const old = await openSink(dataDir, { checkpointEvery: 7 });
    for (let i = 0; i < 30; i++) await recordCall(old);
    await old.close();
    const db = openAuditDb(auditFile(dataDir));
    const pruned = pruneBefore(db, Date.now() + 1, await activeSigner(new KeyStore(dataDir)), Date.now());
    expect(pruned?.removed).toBeGreaterThan(0);
    db.close();
    const after = await openSink(dataDir, { checkpointEvery: 7 });
    for (let i = 0; i < 5; i++) await recordCall(after);
    expect((await after.intent(callContext(), ALLOW)).ok).toBe(true); // left open by a gateway that is then stopped
    await after.close();

    const keys = new KeyStore(dataDir).allPublicKeys();
    const source = openAuditDb(auditFile(dataDir), { readonly: true });
    const original = verifyChain(source, keys);
    expect(original.ok).toBe(true);
    const pool = await openPgAuditStore({ url: pgdb.url, schema: `${pgdb.schema}_copy` });
    try {
      const copied = await copySqliteAuditToPg(source, pool, keys, Date.now());
      expect(copied.entries).toBe(original.entries);
      const report = await verifyPgChain(pool, keys);
      expect(report).toMatchObject({
        ok: true,
        problems: [],
        entries: original.entries,
        firstSeq: original.firstSeq,
        lastSeq: original.lastSeq,
        checkpoints: original.checkpoints,
        signaturesVerified: original.signaturesVerified,
        anchor: original.anchor,
      });
      await expect(copySqliteAuditToPg(source, pool, keys, Date.now())).rejects.toThrow(/not empty/);
    } finally {
      source.close();
      await pool.end();
    }
  });
});
