// The reviewer CLI against an audit log written by two real gateway processes at once (serve over HTTP and
// stdio), on SQLite and on PostgreSQL: what a record holds, filters, show, tail -f, export escaping, stats,
// checkpoints, verify, prune.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  connectHttp,
  connectStdio,
  useFixtureHttp,
  startGateway,
  writeConfig,
  type RunningGateway,
} from '../helpers/gateway.js';
import { usePostgres } from '../helpers/postgres.js';
import { runToExit, waitFor } from '../helpers/process.js';

const INJECTION = `=cmd|' /C calc'!A0\u001b]52;c;ZXZpbA==\u0007\u202e`;
const HOST_NAME = '@SUM(1+1)\u001b[2J';
const TRACE = randomBytes(16).toString('hex');
// eslint-disable-next-line no-control-regex -- what must never reach a terminal or a spreadsheet raw
const RAW_CONTROLS = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e]/;

// The same reviewer commands against both stores: audit.db, and the PostgreSQL store (store.kind postgres).
const database = usePostgres();

// One downstream for the file: every gateway process (serve and stdio, both stores) reaches the fixture over HTTP.
const fixture = useFixtureHttp();
const servers = () => ({ fixture: { transport: 'http', url: fixture.url() } });

describe.each(['sqlite', 'postgres'] as const)('audit log on %s', (kind) => {
  let gw: RunningGateway;
  let data: string;
  let cut: number;

  async function audit(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runToExit(process.execPath, [BIN, '--config', gw.configFile, 'audit', ...args]);
  }

  async function json<T>(...args: string[]): Promise<T> {
    const run = await audit(...args, '--json');
    expect(run.stderr).toBe('');
    return JSON.parse(run.stdout) as T;
  }

  /** Whether `text` is anywhere in the stored audit log: the file's raw bytes, or any entry's row on PostgreSQL. */
  async function storedAnywhere(text: string): Promise<boolean> {
    if (kind === 'sqlite') return readFileSync(join(data, 'audit.db')).includes(text);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const found = await admin.query(
        `SELECT 1 FROM review.audit_entries e WHERE strpos(e::text, $1) > 0
         UNION ALL SELECT 1 FROM review.audit_checkpoints c WHERE strpos(c::text, $1) > 0 LIMIT 1`,
        [text],
      );
      return found.rows.length > 0;
    } finally {
      await admin.end();
    }
  }

  interface Row {
    id: string;
    method: string;
    target: string | null;
    outcome: string;
    subject: string;
    decision: string;
  }

  beforeAll(async () => {
    gw = await startGateway({
      servers: servers(),
      audit: { checkpointEvery: 20 },
      ...(kind === 'postgres' && { store: { kind: 'postgres', url: database.url, schema: 'review' } }),
    });
    data = join(gw.dir.path, 'data');
    // An agent over HTTP that answers roots/list, a hostile agent host, and a stdio gateway process on the same database.
    const http = await connectHttp(gw.url, { capabilities: { roots: {} } });
    http.client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: 'file:///srv/project', name: 'project' }],
    }));
    const hostile = new Client({ name: HOST_NAME, version: '6.6.6' });
    await hostile.connect(new StreamableHTTPClientTransport(new URL(gw.url)));
    const stdio = await connectStdio(gw.configFile);

    await http.client.callTool({
      name: 'fixture__fixture_pid',
      arguments: { password: 'hunter2-canary', note: 'first' },
      _meta: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` },
    });
    cut = Date.now();
    // Everything after this starts in a later millisecond than the cut: wait for the clock, not a guess.
    await waitFor(() => Date.now() > cut, 'the millisecond after the cut');
    await http.client.callTool({ name: 'fixture__fixture_roots', arguments: {} });
    await expect(hostile.callTool({ name: INJECTION, arguments: {} })).rejects.toThrow(/Unknown tool/);
    await Promise.all([
      ...Array.from({ length: 25 }, () =>
        http.client.callTool({ name: 'fixture__fixture_sleep', arguments: { ms: 1 } }),
      ),
      ...Array.from({ length: 25 }, () => stdio.client.callTool({ name: 'fixture__fixture_pid', arguments: {} })),
    ]);
    await Promise.all([http.client.close(), hostile.close(), stdio.client.close()]);
  });

  afterAll(async () => {
    await gw?.stop();
  });

  describe('reviewer CLI', () => {
    it('list: newest first, filters, and the record fields (trace id, client, principal, redacted arguments)', async () => {
      const all = await json<Row[]>('list', '-n', '200');
      expect(all).toHaveLength(53 + 1); // 53 tool calls and the roots/list the server sent during one of them
      expect(all.filter((r) => r.method === 'tools/call' && r.outcome === 'ok')).toHaveLength(52);
      expect(await json<Row[]>('list', '--tool', 'fixture__fixture_sleep', '-n', '100')).toHaveLength(25);
      expect(await json<Row[]>('list', '--tool', 'fixture__*', '-n', '100')).toHaveLength(52);
      expect(await json<Row[]>('list', '--agent', 'test-agent', '--decision', 'deny')).toMatchObject([
        { outcome: 'denied', target: INJECTION },
      ]);
      expect(await json<Row[]>('list', '--outcome', 'denied')).toHaveLength(1);
      const untilCut = await json<Row[]>('list', '--until', new Date(cut).toISOString());
      expect(untilCut).toHaveLength(1);

      const first = untilCut[0]!;
      const record = await json<{ intent: Record<string, any>; result: Record<string, any> }>('show', first.id); // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(record.intent).toMatchObject({
        traceId: TRACE,
        ingress: 'http',
        client: { name: 'warden-test', version: '1.0.0' },
        principal: { subject: 'test-agent', authMethod: 'unauthenticated-local' },
        arguments: { password: '[REDACTED]', note: 'first' },
        argumentsDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        decision: { effect: 'allow', rule: 'local-dev' },
      });
      expect(record.result).toMatchObject({ outcome: 'ok', result: { digest: expect.stringMatching(/^sha256:/) } });
      expect(await storedAnywhere('hunter2-canary')).toBe(false);

      const table = await audit('list', '-n', '200');
      expect(table.stdout).toMatch(/^started\s+id\s+agent\s+method\s+target\s+decision\s+outcome\s+ms\n/);
      expect(table.stdout).not.toMatch(RAW_CONTROLS);
    });

    it('show: the whole record readable, with the requests the server sent towards the agent', async () => {
      // One listing by server finds both the call and the roots/list relayed during it (the --tool filter is
      // the list test's).
      const byServer = await json<Row[]>('list', '--server', 'fixture', '-n', '200');
      const calls = byServer.filter((r) => r.method === 'tools/call' && r.target === 'fixture__fixture_roots');
      expect(calls).toHaveLength(1);
      const call = calls[0];
      const shown = await audit('show', call!.id);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(new RegExp(`^record ${call!.id}  tools/call  fixture__fixture_roots`));
      expect(shown.stdout).toMatch(
        /requests the server sent towards the agent during this call:\n.* roots\/list {2}ok/,
      );
      const relay = byServer.find((r) => r.method === 'roots/list')!;
      const detail = await json<{ intent: { parent: string; server: string }; result: { relay: { roots: number } } }>(
        'show',
        relay.id,
      );
      expect(detail.intent).toMatchObject({ parent: call!.id, server: 'fixture' });
      expect(detail.result.relay).toEqual({ roots: 1 });
      expect((await audit('show', '01ZZZZZZZZZZZZZZZZZZZZZZZZ')).code).toBe(1);
    });

    it('export: CSV neutralises formulas and escapes control characters; JSON lines too', async () => {
      const csv = await audit('export', '--format', 'csv');
      expect(csv.code).toBe(0);
      expect(csv.stdout).not.toMatch(RAW_CONTROLS);
      const lines = csv.stdout.trimEnd().split('\r\n');
      expect(lines[0]).toMatch(/^id,started_at,ended_at,instance,ingress,session,/);
      expect(lines).toHaveLength(1 + 54);
      const hostile = lines.find((l) => l.includes('calc'))!;
      expect(hostile).toContain(`,'=cmd|' /C calc'!A0\\u001b]52;c;ZXZpbA==\\u0007\\u202e,`);
      expect(hostile).toContain(",'@SUM(1+1)\\u001b[2J 6.6.6,");

      const jsonl = await audit('export', '--format', 'jsonl', '--outcome', 'denied');
      expect(jsonl.stdout).not.toMatch(RAW_CONTROLS);
      const [record] = jsonl.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { target: string; intent: { client: { name: string } } });
      expect(record!.target).toBe(INJECTION);
      expect(record!.intent.client.name).toBe(HOST_NAME);
    });

    it('stats: calls, denials and errors by agent, tool and outcome', async () => {
      const stats = await json<{
        total: { calls: number; denied: number; errors: number };
        byTool: { key: string; calls: number }[];
        byOutcome: { outcome: string; count: number }[];
      }>('stats');
      expect(stats.total).toMatchObject({ calls: 54, denied: 1, errors: 0 });
      expect(stats.byTool).toEqual(
        expect.arrayContaining([expect.objectContaining({ key: 'fixture__fixture_pid', calls: 26 })]),
      );
      expect(stats.byOutcome).toEqual(
        expect.arrayContaining([
          { outcome: 'ok', count: 53 },
          { outcome: 'denied', count: 1 },
        ]),
      );
    });

    it('tail -f: prints new entries as another process writes them, until interrupted', async () => {
      const tail = spawn(process.execPath, [BIN, '--config', gw.configFile, 'audit', 'tail', '-f', '-n', '1'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const lines: string[] = [];
      createInterface({ input: tail.stdout }).on('line', (line) => lines.push(line));
      try {
        await waitFor(() => lines.length >= 1, 'the last entry');
        const { client } = await connectHttp(gw.url);
        await client.callTool({ name: 'fixture__fixture_pid', arguments: { marker: 'tail-me' } });
        await client.close();
        await waitFor(
          () =>
            lines.some((l) =>
              /outcome {2}\w{26} {2}test-agent {2}tools\/call fixture__fixture_pid {2}outcome=ok/.test(l),
            ),
          'the new outcome',
        );
        expect(
          lines.some((l) =>
            / intent {3}\w{26} {2}test-agent {2}tools\/call fixture__fixture_pid {2}decision=allow/.test(l),
          ),
        ).toBe(true);
      } finally {
        tail.kill('SIGTERM');
      }
      const code = await new Promise((resolve) => tail.once('exit', resolve));
      expect(code).toBe(0);
    });

    it('checkpoints, verify, and prune with an anchor (a second gateway process wrote to the same chain)', async () => {
      const listed = await audit('checkpoints');
      expect(listed.stdout).toMatch(/^id\s+entries\s+time\s+key\s+hash\n1\s+/);
      const exported = join(gw.dir.path, 'kept-elsewhere.jsonl');
      expect((await audit('checkpoints', '--export', '--out', exported)).code).toBe(0);
      const verified = await audit('verify', '--against', exported);
      expect(verified.stdout).toMatch(/: OK\n/);

      const pruned = await audit('prune', '--before', new Date(cut).toISOString());
      expect(pruned.stdout).toMatch(
        /^pruned \d+ entries \(up to entry \d+\); the log now starts from anchor [0-9a-f]{64}\n$/,
      );
      expect(await json<Row[]>('list', '--until', new Date(cut).toISOString())).toEqual([]);
      const after = await audit('verify', '--against', exported);
      expect(after.stdout).toMatch(
        /: OK\n {2}entries \d+ \(\d+-\d+\); checkpoints \d+, \d+ signatures verified; pruned up to \d+/,
      );
      expect(after.code).toBe(0);
      const events = await json<{ type: string; data: { upTo: number } }[]>('list', '--events', '--type', 'audit.*');
      expect(events[0]).toMatchObject({ type: 'audit.pruned' });
      expect((await audit('list', '--outcome', 'bogus')).code).toBe(2);
    });
  });
});

describe('authentication failures are events', () => {
  it('a stdio agent with an invalid token: each refused request is recorded, the token never is', async () => {
    const { dir, file } = await writeConfig({
      auth: { mode: 'jwt', builtin: {} },
      servers: servers(),
    });
    try {
      const tokenFile = join(dir.path, 'token');
      writeFileSync(tokenFile, 'eyJub3QiOiJhIHRva2VuIn0.canary-token-value.sig\n');
      const client = new Client({ name: 'warden-test', version: '1.0.0' });
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [BIN, 'stdio', '--config', file, '--token-file', tokenFile],
          stderr: 'pipe',
        }),
      );
      await expect(client.callTool({ name: 'fixture__fixture_pid', arguments: {} })).rejects.toThrow(
        /Authentication required/,
      );
      await client.close();
      const run = await runToExit(process.execPath, [
        BIN,
        '--config',
        file,
        'audit',
        'list',
        '--events',
        '--type',
        'auth.failure',
        '--json',
      ]);
      const events = JSON.parse(run.stdout) as { type: string; data: { ingress: string; reason: string } }[];
      expect(events).toEqual([
        expect.objectContaining({
          type: 'auth.failure',
          data: expect.objectContaining({ ingress: 'stdio', reason: expect.stringMatching(/invalid or expired/) }),
        }),
      ]);
      expect(readFileSync(join(dir.path, 'data', 'audit.db')).includes('canary-token-value')).toBe(false);
    } finally {
      await dir.cleanup();
    }
  });
});
