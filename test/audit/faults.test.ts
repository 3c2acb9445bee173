// No audit, no action — through the real gateway process, a real SQLite file and a real downstream that
// logs every call it receives (FIXTURE_CALL_LOG): SIGKILL under load, a full database, a database held
// locked by another process, a read-only database.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { auditFile, openAuditDb } from '../../src/audit/store.js';
import { BIN, connectHttp, fixtureServer, startGateway, writeConfig } from '../helpers/gateway.js';
import { runToExit, spawnReady, waitFor } from '../helpers/process.js';

const HOLD_LOCK = join(import.meta.dirname, 'fixtures/hold-lock.mjs');
const AUDIT_REFUSAL = /Audit log unavailable: the call was refused and nothing was forwarded/;

function forwarded(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

async function pid(client: Client): Promise<unknown> {
  return client.callTool({ name: 'fixture__fixture_pid', arguments: {} });
}

function traceparent(trace: string): string {
  return `00-${trace}-${'1'.repeat(16)}-01`;
}

describe('no audit, no action (real processes, real SQLite)', () => {
  it('SIGKILL under load: every answered call has intent and outcome; open intents read unknown_outcome after restart', async () => {
    const started = await startGateway({
      servers: { fixture: fixtureServer({ env: { FIXTURE_CALL_LOG: 'calls.log' } }) },
      audit: { checkpointEvery: 50 },
    });
    const callLog = join(started.dir.path, 'calls.log');
    const dbFile = join(started.dir.path, 'data', 'audit.db');
    try {
      const { client } = await connectHttp(started.url);
      const answered = new Set<string>();
      let stop = false;
      const worker = async (w: number) => {
        for (let i = 0; !stop; i += 1) {
          const trace = randomBytes(16).toString('hex');
          // A few workers sit in long calls, so some intents are certainly open at the kill.
          const ms = w < 4 ? 10_000 : (i * 7 + w) % 15;
          try {
            await client.callTool({
              name: 'fixture__fixture_sleep',
              arguments: { ms },
              _meta: { traceparent: traceparent(trace) },
            });
            answered.add(trace);
          } catch {
            return;
          }
        }
      };
      const workers = Array.from({ length: 16 }, (_, w) => worker(w));
      await waitFor(() => answered.size >= 150, '150 answered calls');
      started.process.child.kill('SIGKILL');
      stop = true;
      await started.process.exited;
      await client.close().catch(() => undefined);
      await Promise.allSettled(workers);

      const db = new Database(dbFile, { readonly: true });
      const intents = db
        .prepare(
          "SELECT id, decision, json_extract(body, '$.traceId') AS trace FROM entries WHERE kind = 'intent' AND type = 'tools/call'",
        )
        .all() as { id: string; decision: string; trace: string }[];
      const outcomes = new Map(
        (
          db.prepare("SELECT id, outcome FROM entries WHERE kind = 'outcome'").all() as {
            id: string;
            outcome: string;
          }[]
        ).map((o) => [o.id, o.outcome]),
      );
      db.close();
      const byTrace = new Map(intents.map((i) => [i.trace, i.id]));
      for (const trace of answered) {
        const id = byTrace.get(trace);
        expect(id, `intent of answered call ${trace}`).toBeDefined();
        expect(outcomes.get(id!), `outcome of answered call ${trace}`).toBe('ok');
      }
      const open = intents.filter((i) => !outcomes.has(i.id));
      expect(open.length).toBeGreaterThanOrEqual(4);
      // Nothing reached the downstream without a committed intent.
      expect(forwarded(callLog)).toBeGreaterThanOrEqual(answered.size);
      expect(forwarded(callLog)).toBeLessThanOrEqual(intents.filter((i) => i.decision === 'allow').length);

      const restarted = await spawnReady(
        process.execPath,
        [BIN, 'serve', '--config', started.configFile, '--port', '0'],
        {
          readyPattern: /^mcp-warden listening on (http:\/\/\S+)$/,
        },
      );
      await restarted.stop();
      const after = new Database(dbFile, { readonly: true });
      const marked = after.prepare(
        "SELECT outcome, json_extract(body, '$.reason') AS reason FROM entries WHERE kind = 'outcome' AND id = ?",
      );
      for (const intent of open)
        expect(marked.get(intent.id)).toMatchObject({
          outcome: 'unknown_outcome',
          reason: expect.stringMatching(/stopped before recording an outcome/),
        });
      after.close();
      const verify = await runToExit(process.execPath, [
        BIN,
        '--data-dir',
        join(started.dir.path, 'data'),
        'audit',
        'verify',
      ]);
      expect(verify.stdout).toMatch(/: OK/);
      expect(verify.code).toBe(0);
    } finally {
      await started.stop();
    }
  });

  it('database full (quota via max_page_count): calls are refused and nothing more is forwarded', async () => {
    const gw = await startGateway({
      servers: { fixture: fixtureServer({ env: { FIXTURE_CALL_LOG: 'calls.log' } }) },
      audit: { maxDatabaseBytes: 160 * 1024 },
    });
    const callLog = join(gw.dir.path, 'calls.log');
    try {
      const { client } = await connectHttp(gw.url);
      let ok = 0;
      let refused: Error | undefined;
      for (let i = 0; i < 200 && !refused; i += 1) {
        try {
          await client.callTool({ name: 'fixture__fixture_pid', arguments: { padding: `${i}-${'x'.repeat(4000)}` } });
          ok += 1;
        } catch (error) {
          refused = error as Error;
        }
      }
      expect(refused?.message).toMatch(AUDIT_REFUSAL);
      const large = { name: 'fixture__fixture_pid', arguments: { padding: 'y'.repeat(6000) } };
      await expect(client.callTool(large)).rejects.toThrow(AUDIT_REFUSAL);
      expect(ok).toBeGreaterThan(0);
      expect(forwarded(callLog)).toBe(ok);
      await client.close();
      // The log is written asynchronously (pino, sync: false): wait for the line rather than read stderr at once.
      await waitFor(() => /database or disk is full/.test(gw.process.stderr()), 'the "disk is full" log line');
    } finally {
      await gw.stop();
    }
  });

  it('database locked by another process: calls wait the busy timeout, are refused, and nothing is forwarded', async () => {
    const gw = await startGateway({
      servers: { fixture: fixtureServer({ env: { FIXTURE_CALL_LOG: 'calls.log' } }) },
      audit: { busyTimeoutMs: 300 },
    });
    const callLog = join(gw.dir.path, 'calls.log');
    try {
      const { client } = await connectHttp(gw.url);
      await pid(client);
      expect(forwarded(callLog)).toBe(1);

      const holder = spawn(process.execPath, [HOLD_LOCK, join(gw.dir.path, 'data', 'audit.db')], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => createInterface({ input: holder.stdout! }).once('line', () => resolve()));
      const startedAt = Date.now();
      await expect(pid(client)).rejects.toThrow(AUDIT_REFUSAL);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(280);
      await expect(client.callTool({ name: 'fixture__fixture_sleep', arguments: { ms: 1 } })).rejects.toThrow(
        AUDIT_REFUSAL,
      );
      expect(forwarded(callLog)).toBe(1);

      holder.stdin!.end();
      await new Promise((resolve) => holder.once('exit', resolve));
      await pid(client);
      expect(forwarded(callLog)).toBe(2);
      await client.close();
      await waitFor(() => /locked by another process/.test(gw.process.stderr()), 'the "locked" log line');
    } finally {
      await gw.stop();
    }
  });

  it('read-only database: the gateway refuses to start (exit 1) and starts no downstream', async () => {
    // The audit database as a gateway leaves it (made and migrated by the store's own open), without
    // starting one only to stop it.
    const { dir, file } = await writeConfig({
      servers: { fixture: fixtureServer({ env: { FIXTURE_CALL_LOG: 'calls.log' } }) },
    });
    const dbFile = auditFile(join(dir.path, 'data'));
    openAuditDb(dbFile).close();
    const root = process.getuid?.() === 0;
    try {
      // Root ignores file modes; the immutable attribute binds root too (ext4, xfs, btrfs).
      if (root) execFileSync('chattr', ['+i', dbFile]);
      else chmodSync(dbFile, 0o444);
      const run = await runToExit(process.execPath, [BIN, 'serve', '--config', file, '--port', '0']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /audit database .*audit\.db: database is read-only; refusing to start \(no audit, no action\)/,
      );
      expect(run.stdout).not.toMatch(/listening/);
      expect(forwarded(join(dir.path, 'calls.log'))).toBe(0);
    } finally {
      if (root) execFileSync('chattr', ['-i', dbFile]);
      await dir.cleanup();
    }
  });
});
