// `serve` with `store.kind: "postgres"` writes its audit log to PostgreSQL: real gateway processes on one
// real database. Intents before forwarding, outcomes after; a replica killed mid-call has its open intent
// marked unknown_outcome by the next replica to start, while another live replica's open intent is left
// alone (reconciled by replica, not "every open intent"); with the database cut, calls are refused and
// none reaches the server; when it returns, calls run again and the chain verifies.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgAuditStore } from '../../src/audit/pg/open.js';
import { pgPublishedKeys, verifyPgChain } from '../../src/audit/pg/verify.js';
import { connectHttp, startFixtureHttp, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { usePostgres } from '../helpers/postgres.js';
import { waitFor, type ReadyProcess } from '../helpers/process.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const database = usePostgres();
let admin: pg.Pool;
const running: RunningGateway[] = [];
// One downstream for every replica of the file: the fixture over HTTP.
let fixture: ReadyProcess;

beforeAll(async () => {
  admin = new pg.Pool({ connectionString: database.url, max: 2 });
  fixture = await startFixtureHttp();
});
afterAll(async () => {
  await Promise.all(running.map((gw) => gw.stop().catch(() => undefined)));
  await fixture?.stop();
  await admin?.end();
});

const newSchema = () => `serve_${randomBytes(4).toString('hex')}`;

async function replica(schema: string, url = database.url): Promise<RunningGateway> {
  const gw = await startGateway({
    servers: { fixture: { transport: 'http', url: fixture.url! } },
    store: { kind: 'postgres', url, schema },
  });
  running.push(gw);
  return gw;
}

interface Row {
  id: string;
  kind: string;
  instance: string;
  target: string | null;
  outcome: string | null;
  type: string;
  body: string;
}

async function rows(schema: string, where = 'true', params: unknown[] = []): Promise<Row[]> {
  return (
    await admin.query<Row>(
      `SELECT id, kind, instance, target, outcome, type, body FROM ${schema}.audit_entries WHERE ${where} ORDER BY seq`,
      params,
    )
  ).rows;
}

async function verify(schema: string) {
  const pool = await openPgAuditStore({ url: database.url, schema });
  try {
    return await verifyPgChain(pool, await pgPublishedKeys(pool));
  } finally {
    await pool.end();
  }
}

/** Starts a long fixture_sleep and resolves once it has reached the server (so its intent is committed). */
async function longCall(gw: RunningGateway) {
  const agent = await connectHttp(gw.url);
  const abort = new AbortController();
  let reached!: () => void;
  const started = new Promise<void>((resolve) => (reached = resolve));
  const call = agent.client
    .callTool({ name: 'fixture__fixture_sleep', arguments: { ms: 600_000 } }, undefined, {
      onprogress: () => reached(),
      timeout: 700_000,
      signal: abort.signal,
    })
    .catch((error: unknown) => error);
  await started;
  return { agent, call, abort };
}

describe('serve with the audit log on PostgreSQL', () => {
  it('records every call in the shared chain, and the next replica to start closes only the dead replica’s intents', async () => {
    const schema = newSchema();
    const a = await replica(schema);
    const b = await replica(schema);
    const agentA = await connectHttp(a.url);
    await agentA.client.callTool({ name: 'fixture__fixture_pid', arguments: {} });
    const done = await rows(schema, "target = 'fixture__fixture_pid' AND kind <> 'event'");
    expect(done.map((r) => [r.kind, r.outcome])).toEqual([
      ['intent', null],
      ['outcome', 'ok'],
    ]);

    const inA = await longCall(a);
    const inB = await longCall(b);
    const open = await admin.query<{ id: string; instance: string }>(
      `SELECT id, instance FROM ${schema}.audit_open_intents ORDER BY seq`,
    );
    expect(open.rows).toHaveLength(2);
    const [deadIntent, liveIntent] = open.rows;
    expect(deadIntent!.instance).not.toBe(liveIntent!.instance);

    a.process.child.kill('SIGKILL');
    await a.process.exited;
    // The killed replica answers nothing more: the agent gives up on the call.
    inA.abort.abort();
    await inA.call;
    await inA.agent.client.close().catch(() => undefined);
    const c = await replica(schema);

    const outcomes = async (id: string) =>
      (await rows(schema, "id = $1 AND kind = 'outcome'", [id])).map((r) => r.outcome);
    // C at its start, or B at its heartbeat (whichever comes first, once): A's intent, and the event saying so.
    const recovered = await waitFor(async () => {
      const found = await rows(schema, "type = 'audit.recovered'");
      return found.length > 0 ? found : undefined;
    }, 'the audit.recovered event');
    expect(recovered).toHaveLength(1);
    expect(JSON.parse(recovered[0]!.body)).toMatchObject({ data: { intents: 1, instances: [deadIntent!.instance] } });
    const by = await admin.query<{ pid: number }>(`SELECT pid FROM ${schema}.audit_instances WHERE id = $1`, [
      recovered[0]!.instance,
    ]);
    expect([b.process.child.pid, c.process.child.pid]).toContain(by.rows[0]?.pid);
    expect(await outcomes(deadIntent!.id)).toEqual(['unknown_outcome']);
    // B is alive: its call is still running, its intent stays open.
    expect(await outcomes(liveIntent!.id)).toEqual([]);

    inB.abort.abort();
    await inB.call;
    await waitFor(async () => (await outcomes(liveIntent!.id)).length === 1, 'the live replica’s outcome');
    expect(await outcomes(liveIntent!.id)).toEqual(['cancelled']);
    await agentA.client.close().catch(() => undefined);
    await inB.agent.client.close();
    await b.process.stop();
    await c.process.stop();
    const report = await verify(schema);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('refuses calls while the database is cut, forwards none of them, and serves again when it returns', async () => {
    const schema = newSchema();
    const target = new URL(database.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    try {
      const url = new URL(database.url);
      url.hostname = '127.0.0.1';
      url.port = String(proxy.port);
      const gw = await replica(schema, url.href);
      const agent = await connectHttp(gw.url);
      await agent.client.callTool({ name: 'fixture__fixture_pid', arguments: {} });

      proxy.cut();
      let progressed = false;
      const refused = await agent.client
        .callTool({ name: 'fixture__fixture_sleep', arguments: { ms: 1 } }, undefined, {
          onprogress: () => (progressed = true),
        })
        .then(
          (result) => result,
          (error: unknown) => error,
        );
      // Refused by the audit stage (its intent cannot be written) or, first, by the shared state store's check.
      expect(JSON.stringify(refused instanceof Error ? refused.message : refused)).toMatch(
        /Audit log unavailable: the call was refused and nothing was forwarded|Shared state store unavailable/,
      );
      expect(progressed).toBe(false);

      proxy.restore();
      const again = await waitFor(
        () =>
          agent.client.callTool({ name: 'fixture__fixture_pid', arguments: {} }).then(
            (result) => (result.isError ? undefined : result),
            () => undefined,
          ),
        'a call once the database is back',
      );
      expect(again.structuredContent).toMatchObject({ pid: expect.any(Number) });
      await agent.client.close();
      await gw.process.stop();
      expect((await rows(schema, "type = 'gateway.stop'")).length).toBe(1);
      // Nothing ran: the refused call has no outcome but a refusal (at most its retried denial).
      const sleeps = await rows(schema, "target = 'fixture__fixture_sleep' AND kind = 'outcome'");
      expect(sleeps.filter((r) => r.outcome === 'ok')).toEqual([]);
      const report = await verify(schema);
      expect(report.problems).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
