// Tampering with the raw SQLite file a real gateway wrote, then `mcp-warden audit verify`: each kind of
// tampering is named precisely (which entry, what happened); the untouched copy verifies clean.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, connectHttp, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { runToExit } from '../helpers/process.js';

const CALLS = 40;
let gw: RunningGateway;
let data: string;
let copies = 0;

beforeAll(async () => {
  gw = await startGateway({ servers: { fixture: fixtureServer() }, audit: { checkpointEvery: 10 } });
  const { client } = await connectHttp(gw.url);
  for (let i = 0; i < CALLS; i += 1) {
    await client.callTool({
      name: 'fixture__fixture_pid',
      arguments: { marker: `MARKER-${String(i).padStart(4, '0')}` },
    });
  }
  await client.close();
  await gw.process.stop(); // clean stop: the WAL is checkpointed into audit.db
  data = join(gw.dir.path, 'data');
});

afterAll(async () => {
  await gw?.stop();
});

/** A copy of the data folder to tamper with; `db` is its audit file. */
function copy(): { dir: string; db: string } {
  copies += 1;
  const dir = join(gw.dir.path, `copy-${copies}`);
  cpSync(data, dir, { recursive: true });
  return { dir, db: join(dir, 'audit.db') };
}

function withDb<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const seqOfMarker = (file: string, marker: string): number =>
  withDb(
    file,
    (db) =>
      (
        db.prepare("SELECT seq FROM entries WHERE kind = 'intent' AND body LIKE ?").get(`%${marker}%`) as {
          seq: number;
        }
      ).seq,
  );

async function verify(dir: string, ...extra: string[]): Promise<{ code: number | null; out: string }> {
  const run = await runToExit(process.execPath, [BIN, '--data-dir', dir, 'audit', 'verify', ...extra]);
  return { code: run.code, out: run.stdout + run.stderr };
}

const COLUMNS = [
  'id',
  'kind',
  'ts',
  'started_at',
  'instance',
  'type',
  'subject',
  'task_id',
  'server',
  'target',
  'decision',
  'outcome',
  'body',
  'prev_hash',
  'hash',
];

describe('audit verify on a tampered raw file', () => {
  it('an untouched database verifies clean', async () => {
    const { dir } = copy();
    const result = await verify(dir);
    expect(result.out).toMatch(/audit\.db: OK\n {2}entries \d+ \(1-\d+\); checkpoints \d+, \d+ signatures verified/);
    expect(result.code).toBe(0);
  });

  it('a value edited in the file bytes: names the modified entry', async () => {
    const { dir, db } = copy();
    const seq = seqOfMarker(db, 'MARKER-0007');
    const bytes = readFileSync(db);
    const at = bytes.indexOf('MARKER-0007');
    expect(at).toBeGreaterThan(0);
    bytes.write('MARKER-9999', at);
    writeFileSync(db, bytes);
    const result = await verify(dir);
    expect(result.out).toMatch(
      new RegExp(`MODIFIED: entry ${seq} \\(intent \\w+\\) was modified: its content no longer matches its hash`),
    );
    expect(result.out).toMatch(/1 problem\n/);
    expect(result.code).toBe(1);
  });

  it('a deleted row: names it', async () => {
    const { dir, db } = copy();
    const seq = seqOfMarker(db, 'MARKER-0011');
    withDb(db, (d) => d.prepare('DELETE FROM entries WHERE seq = ?').run(seq));
    const result = await verify(dir);
    expect(result.out).toContain(`DELETED: entry ${seq} was deleted`);
    expect(result.code).toBe(1);
  });

  it('two rows swapped: names both', async () => {
    const { dir, db } = copy();
    const [a, b] = [seqOfMarker(db, 'MARKER-0015'), seqOfMarker(db, 'MARKER-0019')];
    withDb(db, (d) => {
      const read = d.prepare(`SELECT ${COLUMNS.join(', ')} FROM entries WHERE seq = ?`);
      const rowA = read.get(a) as Record<string, unknown>;
      const rowB = read.get(b) as Record<string, unknown>;
      const write = d.prepare(`UPDATE entries SET ${COLUMNS.map((c) => `${c} = @${c}`).join(', ')} WHERE seq = @seq`);
      d.transaction(() => {
        write.run({ ...rowB, seq: a });
        write.run({ ...rowA, seq: b });
      })();
    });
    const result = await verify(dir);
    expect(result.out).toContain(`REORDERED: entries ${a} and ${b} were swapped`);
    expect(result.out).toMatch(/1 problem\n/);
    expect(result.code).toBe(1);
  });

  it('the tail dropped: names the missing range, confirmed by the signed checkpoint', async () => {
    const { dir, db } = copy();
    const last = withDb(db, (d) => (d.prepare('SELECT max(seq) AS seq FROM entries').get() as { seq: number }).seq);
    withDb(db, (d) => d.prepare('DELETE FROM entries WHERE seq > ?').run(last - 6));
    const result = await verify(dir);
    expect(result.out).toContain(
      `TRUNCATED: tail truncated: entries ${last - 5}-${last} were deleted (the log ends at ${last - 6})`,
    );
    expect(result.out).toMatch(/TRUNCATED: tail truncated: checkpoint \d+ signed \d+ entries but the log ends at/);
    expect(result.code).toBe(1);
  });

  it('a forged checkpoint signature: names the checkpoint', async () => {
    const { dir, db } = copy();
    withDb(db, (d) =>
      d.prepare("UPDATE checkpoints SET jws = substr(jws, 1, length(jws) - 8) || 'AAAAAAAA' WHERE id = 2").run(),
    );
    const result = await verify(dir);
    expect(result.out).toMatch(/BAD_SIGNATURE: checkpoint 2: signature does not verify with key/);
    expect(result.code).toBe(1);
  });

  it('--against an export kept elsewhere: finds a tail dropped together with its checkpoints and head', async () => {
    const { dir, db } = copy();
    const exported = join(dir, '..', `checkpoints-${copies}.jsonl`);
    const exportRun = await runToExit(process.execPath, [
      BIN,
      '--data-dir',
      dir,
      'audit',
      'checkpoints',
      '--export',
      '--out',
      exported,
    ]);
    expect(exportRun.code).toBe(0);
    expect(readFileSync(exported, 'utf8').split('\n')[0]).toMatch(/^\{"type":"keys","keys":\[\{/);
    withDb(db, (d) => {
      const keep = (d.prepare('SELECT seq FROM checkpoints ORDER BY id LIMIT 1 OFFSET 1').get() as { seq: number }).seq;
      d.prepare('DELETE FROM entries WHERE seq > ?').run(keep);
      d.prepare('DELETE FROM checkpoints WHERE seq > ?').run(keep);
      d.prepare('UPDATE chain_head SET seq = ?, hash = (SELECT hash FROM entries WHERE seq = ?)').run(keep, keep);
    });
    expect((await verify(dir)).code).toBe(0); // the database alone cannot tell
    const result = await verify(dir, '--against', exported);
    expect(result.out).toMatch(/CHECKPOINT: exported checkpoint \d+ \(entry \d+\) is missing from the database/);
    expect(result.out).toMatch(/TRUNCATED: tail truncated: exported checkpoint \d+ signed \d+ entries/);
    expect(result.code).toBe(1);
  });
});
