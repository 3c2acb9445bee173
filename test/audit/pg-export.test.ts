// `audit export` on PostgreSQL streams (issue 19): the reviewer's reader walks a cursor a page at a time in
// one read-only transaction, so a large log is never held in memory at once. Shown on a real database
// with a log of 3,000 records: after the first record has been handed over, the reader's connection is
// inside its transaction, its last statement a FETCH from the cursor (the rest not read yet); every record
// then arrives, oldest first; an export stopped early ends its transaction and gives the connection back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgAuditSink } from '../../src/audit/pg/open.js';
import { PgAuditReader } from '../../src/audit/pg/reader.js';
import { PostgresStoreSchema } from '../../src/config/store-schema.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { callContext, recordCall, settings, silent } from './helpers.js';
import { testSchema, type TestSchema } from './pg-helpers.js';

const RECORDS = 3_000;

let db: TestSchema;
let dir: TempDir;
let reader: PgAuditReader;
beforeAll(async () => {
  db = await testSchema();
  dir = await makeTempDir('warden-pg-export');
  const pg = { url: db.url, schema: `${db.schema}_export` };
  const sink = await openPgAuditSink({ pg, dataDir: dir.path, settings: settings(), logger: silent, details: {} });
  for (let i = 0; i < RECORDS; i += 500)
    await Promise.all(
      Array.from({ length: 500 }, (_, n) => recordCall(sink, callContext({ arguments: { n: i + n } }))),
    );
  await sink.close();
  reader = await PgAuditReader.open(PostgresStoreSchema.parse({ kind: 'postgres', ...pg }), dir.path, 'test');
});
afterAll(async () => {
  await reader?.close();
  await dir?.cleanup();
  await db?.drop();
});

/** The database's sessions that are exporting: their state and last statement. */
async function exporting(): Promise<{ state: string; query: string }[]> {
  return (
    await db.admin.query<{ state: string; query: string }>(
      "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%audit_export%' AND pid <> pg_backend_pid()",
    )
  ).rows;
}

describe('audit export on PostgreSQL', () => {
  it('streams through a cursor: the first record arrives while the rest are still unread; then every record, oldest first', async () => {
    const records = reader.exportRecords({})[Symbol.asyncIterator]();
    const first = await records.next();
    expect(first.done).toBe(false);
    expect(await exporting()).toEqual([
      { state: 'idle in transaction', query: expect.stringMatching(/^FETCH \d+ FROM audit_export$/) },
    ]);
    const started = [first.value!.summary.startedAt];
    for (let next = await records.next(); !next.done; next = await records.next())
      started.push(next.value.summary.startedAt);
    expect(started).toHaveLength(RECORDS);
    expect(started).toEqual([...started].sort((a, b) => a - b));
    expect((await exporting()).filter((s) => s.state !== 'idle')).toEqual([]);
  });

  it('an export stopped early ends its transaction and leaves no cursor open', async () => {
    let seen = 0;
    for await (const _record of reader.exportRecords({ agent: 'agent:test' })) if (++seen === 10) break;
    expect(seen).toBe(10);
    expect((await exporting()).filter((s) => s.state !== 'idle')).toEqual([]);
    // The connection went back to the pool usable: the next export reads the whole log again.
    let all = 0;
    for await (const _record of reader.exportRecords({})) all += 1;
    expect(all).toBe(RECORDS);
  });
});
