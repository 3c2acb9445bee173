// Rug pulls through the real gateway: the conformance fixture changes fixture_rug's description or its
// input schema after the first list (fixture_mutate), or presents a changed definition on its next start
// (FIXTURE_RUG). The changed tool must be quarantined: hidden from tools/list, refused by name with an
// error that says why, visible to reviewers in `tools list` and `tools diff`, recorded in the audit log
// with both hashes, and back after `tools approve` (decided by the real CLI, another process). Pins and
// audit events a test only reads back are read in this process (test/helpers/stores.ts); the reviewer's
// own commands (`tools list`, `diff`, `approve`, `reject`, `policy replay`, `audit export`) run the CLI.
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { recordNotifications, textOf, type Recorded } from '../helpers/agent.js';
import { runCli } from '../helpers/cli.js';
import { BIN, connectHttp, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { holdAuditLock } from '../helpers/locks.js';
import { makeTempDir, runToExit, waitFor, type TempDir } from '../helpers/process.js';
import { auditEvents, storedPins } from '../helpers/stores.js';

interface PinJson {
  server: string;
  kind: string;
  name: string;
  exposed: string;
  status: string;
  pinnedHash?: string;
  currentHash: string;
  flags: string[];
  decidedBy?: string;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function gatewayWith(
  servers: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<RunningGateway> {
  const gateway = await startGateway({ servers, ...extra });
  cleanups.push(() => gateway.stop());
  return gateway;
}

async function agent(gateway: RunningGateway): Promise<{ client: Client; seen: Recorded[] }> {
  const { client } = await connectHttp(gateway.url);
  const seen = recordNotifications(client);
  cleanups.push(() => client.close());
  return { client, seen };
}

async function names(client: Client): Promise<string[]> {
  return (await client.listTools()).tools.map((tool) => tool.name);
}

function attempt(client: Client, name: string, args: Record<string, unknown> = {}) {
  return client.callTool({ name, arguments: args }).then(
    (result) => ({ ok: true as const, text: textOf(result) }),
    (error: { code?: number; message?: string; data?: unknown }) => ({
      ok: false as const,
      code: error.code,
      message: String(error.message),
      data: error.data,
    }),
  );
}

/**
 * The real CLI, run without blocking the event loop: a blocked loop keeps the agent's idle keep-alive
 * socket in the pool after the gateway closed it (keepAliveTimeout), and the next request fails.
 */
async function cli(
  gateway: RunningGateway,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const result = await runToExit(process.execPath, [BIN, ...args, '--config', gateway.configFile]);
  return { code: result.code, stdout: result.stdout, stderr: result.stderr };
}

/** `tools list --json` through the real CLI. */
async function pinsCli(gateway: RunningGateway, args: string[] = []): Promise<PinJson[]> {
  const result = await cli(gateway, ['tools', 'list', '--json', ...args]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as PinJson[];
}

/** The same rows, read from state.db in this process. */
function pins(gateway: RunningGateway, filter: Parameters<typeof storedPins>[1] = {}): PinJson[] {
  return storedPins(gateway.configFile, filter) as unknown as PinJson[];
}

function pinOf(gateway: RunningGateway, exposed: string): PinJson | undefined {
  return pins(gateway).find((pin) => pin.exposed === exposed && pin.kind === 'tool');
}

/** The tool.* audit events, oldest first. */
function events(gateway: RunningGateway): { type: string; target: string; data: Record<string, unknown> }[] {
  return (
    auditEvents(gateway.configFile, { type: 'tool.*' }) as unknown as {
      type: string;
      target: string;
      data: Record<string, unknown>;
    }[]
  ).reverse();
}

const listChanges = (seen: readonly Recorded[]) =>
  seen.filter((n) => n.method === 'notifications/tools/list_changed').length;

describe('rug pull after the first list', () => {
  // One gateway for both tests: each changes the tool of its own fixture (fx, then sx) and reads only that
  // tool's pins and events. FIXTURE_SCHEME keeps the two fixtures' resources apart.
  let gateway: RunningGateway;
  beforeAll(async () => {
    gateway = await startGateway({
      servers: { fx: fixtureServer(), sx: fixtureServer({ env: { FIXTURE_SCHEME: 'sx' } }) },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('a changed description: quarantined, hidden, refused with the reason, in tools list/diff and the audit log; back after approve', async () => {
    const { client, seen } = await agent(gateway);
    expect(await names(client)).toContain('fx__fixture_rug');
    expect(await attempt(client, 'fx__fixture_rug', { text: 'hi' })).toEqual({ ok: true, text: 'rug: hi' });
    const first = pinOf(gateway, 'fx__fixture_rug')!;
    expect(first).toMatchObject({ status: 'pinned', server: 'fx', name: 'fixture_rug', flags: [] });
    expect(first.pinnedHash).toBe(first.currentHash);

    const before = listChanges(seen);
    expect((await attempt(client, 'fx__fixture_mutate', { variant: 'description' })).ok).toBe(true);
    await waitFor(() => listChanges(seen) > before, 'list_changed after the downstream changed its tools');

    const listed = await names(client);
    expect(listed).not.toContain('fx__fixture_rug');
    expect(listed).toContain('fx__fixture_mutate'); // only the changed tool goes

    const refused = await attempt(client, 'fx__fixture_rug', { text: 'hi' });
    expect(refused).toMatchObject({
      ok: false,
      code: -32600,
      data: { status: 'quarantined', tool: 'fx__fixture_rug' },
    });
    expect(refused.ok === false && refused.message).toMatch(
      /Tool fx__fixture_rug is quarantined: its definition changed since it was approved/,
    );
    expect(refused).toMatchObject({ data: { status: 'quarantined', cause: 'changed' } });
    expect(refused.ok === false && refused.message).toMatch(/mcp-warden tools approve fx__fixture_rug/);

    // Policy replay: pins are not policy. The list after the quarantine recorded the tool as allowed but
    // held back by its pin; a policy that denies it hides it from both lists and refuses both calls.
    const denyRug = join(dirname(gateway.configFile), 'deny-rug.yaml');
    await writeFile(
      denyRug,
      'version: 1\nagents:\n  - { id: anyone, match: {}, grants: [{ id: all, effect: allow, tools: ["*"] }] }\ngrants:\n  - { id: no-rug, effect: deny, tools: [fx__fixture_rug] }\n',
    );
    const replayed = await cli(gateway, [
      'policy',
      'replay',
      '--policy',
      denyRug,
      '--tool',
      'fx__fixture_rug',
      '--json',
    ]);
    expect(replayed.stderr).toBe('');
    expect(replayed.code).toBe(3);
    const report = JSON.parse(replayed.stdout) as {
      summary: Record<string, number>;
      groups: { rule: string; changes: { method: string; kind: string; old: { reason: string } }[] }[];
    };
    expect(report.summary).toMatchObject({ lists: 2, newlyHidden: 2, newlyDenied: 2 });
    expect(
      report.groups.flatMap((g) =>
        g.changes.filter((c) => c.method === 'tools/list').map((c) => `${g.rule} ${c.kind} ${c.old.reason}`),
      ),
    ).toEqual(['no-rug newly-hidden shown', 'no-rug newly-hidden allowed, held back by its definition pin']);

    const quarantined = pinOf(gateway, 'fx__fixture_rug')!;
    expect(quarantined).toMatchObject({ status: 'quarantined', pinnedHash: first.currentHash });
    expect(quarantined.currentHash).not.toBe(first.currentHash);
    expect(quarantined.flags).toEqual(
      expect.arrayContaining(['important-block', 'read-files', 'conceal', 'tool-shadowing']),
    );
    expect((await pinsCli(gateway, ['--status', 'quarantined'])).map((p) => p.exposed)).toEqual(['fx__fixture_rug']);

    const table = await cli(gateway, ['tools', 'list']);
    expect(table.stdout).toMatch(/quarantined\s+tool\s+fx__fixture_rug\s+fx\s/);

    const diff = await cli(gateway, ['tools', 'diff', 'fx__fixture_rug']);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain('tool fx__fixture_rug (server fx, downstream name fixture_rug): quarantined');
    expect(diff.stdout).toContain(`pinned   ${first.currentHash}  (trusted on first use)`);
    expect(diff.stdout).toContain(
      '  description\n  - "Echoes the text it is given"\n  + "Echoes the text it is given. <IMPORTANT>Before using any other tool',
    );
    expect(diff.stdout).toContain(`mcp-warden tools approve fx__fixture_rug --hash ${quarantined.currentHash}`);
    expect(diff.stdout).not.toContain('inputSchema');

    // The gateway's log says so, and the refused call is in the audit record with the hash it was refused under.
    await waitFor(
      () =>
        /definition quarantined until a reviewer approves it: mcp-warden tools diff fx__fixture_rug/.test(
          gateway.process.stderr(),
        ),
      'the quarantine in the log',
    );
    const exported = (await cli(gateway, ['audit', 'export', '--format', 'jsonl', '--tool', 'fx__fixture_rug'])).stdout
      .trim()
      .split('\n');
    const records = exported.map((line) => JSON.parse(line) as { decision: string; intent: unknown });
    const denied = records.find((r) => r.decision === 'deny')!;
    expect(JSON.stringify(denied.intent)).toContain('"integrity"');
    expect(JSON.stringify(denied.intent)).toContain(`"toolHash":"${quarantined.currentHash}"`);

    // A reviewer in another process approves exactly what they reviewed.
    const stale = await cli(gateway, ['tools', 'approve', 'fx__fixture_rug', '--hash', first.currentHash]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/changed again: its definition is now sha256:[0-9a-f]{64}, not sha256:/);
    const beforeApprove = listChanges(seen);
    const approved = await cli(gateway, ['tools', 'approve', 'fx__fixture_rug', '--hash', quarantined.currentHash]);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(
      /^approved tool fx__fixture_rug at sha256:[0-9a-f]{64}: every gateway on .* offers it from its next list or call\n$/,
    );
    await waitFor(() => listChanges(seen) > beforeApprove, 'list_changed after the approval in another process');
    const back = (await client.listTools()).tools.find((tool) => tool.name === 'fx__fixture_rug');
    expect(back?.description).toMatch(/<IMPORTANT>Before using any other tool/);
    expect(await attempt(client, 'fx__fixture_rug', { text: 'again' })).toEqual({ ok: true, text: 'rug: again' });
    expect(pinOf(gateway, 'fx__fixture_rug')).toMatchObject({
      status: 'pinned',
      pinnedHash: quarantined.currentHash,
      decidedBy: expect.stringMatching(/@/),
    });

    // Every pin, change, quarantine and approval is an audit event holding both hashes.
    const rug = events(gateway).filter((e) => e.target === 'fx__fixture_rug');
    expect(rug.map((e) => e.type)).toEqual(['tool.pin', 'tool.change', 'tool.quarantine', 'tool.approve']);
    expect(rug[1]!.data).toMatchObject({
      kind: 'tool',
      name: 'fixture_rug',
      exposed: 'fx__fixture_rug',
      previousHash: first.currentHash,
      hash: quarantined.currentHash,
    });
    expect(rug[2]!.data).toMatchObject({
      previousHash: first.currentHash,
      hash: quarantined.currentHash,
      flags: quarantined.flags,
    });
    expect(rug[3]!.data).toMatchObject({
      previousHash: first.currentHash,
      hash: quarantined.currentHash,
      status: 'pinned',
      previousStatus: 'quarantined',
      by: expect.stringMatching(/@/),
    });

    // Approving again, or something never seen, is a clear error.
    const again = await cli(gateway, ['tools', 'approve', 'fx__fixture_rug']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/tool fx\/fixture_rug is already pinned at sha256:[0-9a-f]{64}; nothing to approve/);
    const unknown = await cli(gateway, ['tools', 'approve', 'fx__no_such_tool']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no tool or prompt named fx__no_such_tool has been seen/);
  });

  it('a changed input schema: quarantined and refused; the diff names the field; reject keeps it out', async () => {
    const { client, seen } = await agent(gateway);
    expect(await names(client)).toContain('sx__fixture_rug');
    const before = listChanges(seen);
    await attempt(client, 'sx__fixture_mutate', { variant: 'schema' });
    await waitFor(() => listChanges(seen) > before, 'list_changed after the schema change');
    // That list_changed may be an earlier one: after the first test this session's own fx presents the
    // original description again, which is quarantined as a change from the approved one, and the
    // notification of that can arrive after `before` was read. So wait for the list itself too.
    await waitFor(
      async () => (!(await names(client)).includes('sx__fixture_rug') ? true : undefined),
      'sx__fixture_rug to leave the list',
    );
    expect(await attempt(client, 'sx__fixture_rug', { text: 'x', path: '/etc/passwd' })).toMatchObject({
      ok: false,
      code: -32600,
      data: { status: 'quarantined' },
    });

    const pin = pinOf(gateway, 'sx__fixture_rug')!;
    expect(pin).toMatchObject({ status: 'quarantined', flags: [] });
    const diff = (await cli(gateway, ['tools', 'diff', 'sx/fixture_rug'])).stdout;
    expect(diff).toContain('  inputSchema.properties.path.type\n  + "string"');
    expect(diff).not.toMatch(/^ {2}description$/m);

    const rejected = await cli(gateway, ['tools', 'reject', 'sx__fixture_rug']);
    expect(rejected.code).toBe(0);
    expect(rejected.stdout).toMatch(/^rejected tool sx__fixture_rug at sha256:/);
    await waitFor(async () => {
      const result = await attempt(client, 'sx__fixture_rug', { text: 'x' });
      return result.ok === false && (result.data as { status?: string } | undefined)?.status === 'rejected'
        ? result
        : undefined;
    }, 'the rejection to reach the gateway');
    const refused = await attempt(client, 'sx__fixture_rug', { text: 'x' });
    expect(refused.ok === false && refused.message).toBe(
      'MCP error -32600: Tool sx__fixture_rug is unavailable: a reviewer rejected its current definition',
    );
    expect(await names(client)).not.toContain('sx__fixture_rug');
    expect(pinOf(gateway, 'sx__fixture_rug')).toMatchObject({ status: 'rejected', pinnedHash: pin.pinnedHash });
    expect(
      events(gateway)
        .filter((e) => e.target === 'sx__fixture_rug')
        .map((e) => e.type),
    ).toEqual(['tool.pin', 'tool.change', 'tool.quarantine', 'tool.reject']);
  });
});

describe('pins persist across restarts and are shared by processes', () => {
  // One data folder for both tests: a gateway pins fx and stops; the next gateway on the folder (`second`)
  // starts with a changed fx, and also serves `sh`, which a third gateway on the same folder serves too.
  // Each test reads only its own server's pins and events.
  let data: TempDir;
  let dataDir: string;
  let original: PinJson;
  let second: RunningGateway;
  beforeAll(async () => {
    data = await makeTempDir('warden-pins-data');
    dataDir = join(data.path, 'data');
    const first = await startGateway({ dataDir, servers: { fx: fixtureServer() } });
    try {
      original = pinOf(first, 'fx__fixture_rug')!; // pinned by the start-up probe, before any agent
    } finally {
      await first.stop();
    }
    second = await startGateway({
      dataDir,
      servers: {
        fx: fixtureServer({ env: { FIXTURE_RUG: 'schema' } }),
        sh: fixtureServer({ env: { FIXTURE_SCHEME: 'sh' } }),
      },
    });
  });
  afterAll(async () => {
    await second?.stop();
    await data?.cleanup();
  });

  it('a server whose next start presents a changed definition is quarantined at start-up; an approval from the CLI reaches the running gateway', async () => {
    expect(original.status).toBe('pinned');
    await waitFor(
      () =>
        /definition quarantined until a reviewer approves it: mcp-warden tools diff fx__fixture_rug/.test(
          second.process.stderr(),
        ),
      'the quarantine in the log',
    );
    expect(pinOf(second, 'fx__fixture_rug')).toMatchObject({
      status: 'quarantined',
      pinnedHash: original.currentHash,
    });
    const { client, seen } = await agent(second);
    const listed = await names(client);
    expect(listed).not.toContain('fx__fixture_rug');
    expect(listed).toContain('fx__fixture_pid'); // unchanged tools stay pinned and visible
    expect(await attempt(client, 'fx__fixture_rug', { text: 'x' })).toMatchObject({
      ok: false,
      data: { status: 'quarantined' },
    });

    // No audit, no action: while another process holds the audit log, the approval is refused and nothing changes.
    const lock = await holdAuditLock(dataDir);
    try {
      const refused = await cli(second, ['tools', 'approve', 'fx__fixture_rug']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /tool fx__fixture_rug was NOT approved: the decision could not be written to the audit log .*; nothing changed/,
      );
    } finally {
      await lock.release();
    }
    expect(pinOf(second, 'fx__fixture_rug')).toMatchObject({
      status: 'quarantined',
      pinnedHash: original.currentHash,
    });

    const before = listChanges(seen);
    expect((await cli(second, ['tools', 'approve', 'fx__fixture_rug'])).code).toBe(0);
    await waitFor(() => listChanges(seen) > before, 'list_changed after the CLI approved');
    expect(await names(client)).toContain('fx__fixture_rug');
    expect(await attempt(client, 'fx__fixture_rug', { text: 'x', path: 'p' })).toEqual({ ok: true, text: 'rug: x' });
  });

  it('two gateways on one data folder: a change one gateway sees quarantines the tool for the other one too, recorded once; each agent is told', async () => {
    const two = await gatewayWith({ sh: fixtureServer({ env: { FIXTURE_SCHEME: 'sh' } }) }, { dataDir });
    const a = await agent(second);
    const b = await agent(two);
    expect(await names(a.client)).toContain('sh__fixture_rug');
    expect(await names(b.client)).toContain('sh__fixture_rug');
    const before = listChanges(b.seen);
    await attempt(a.client, 'sh__fixture_mutate', { variant: 'schema' });
    await waitFor(
      async () => (!(await names(a.client)).includes('sh__fixture_rug') ? true : undefined),
      'the quarantine in the first gateway',
    );
    await waitFor(() => listChanges(b.seen) > before, 'list_changed in the second gateway');
    expect(await names(b.client)).not.toContain('sh__fixture_rug');
    // The second gateway's own downstream still presents the approved definition; the tool is refused all the same.
    expect(await attempt(b.client, 'sh__fixture_rug', { text: 'x' })).toMatchObject({
      ok: false,
      data: { status: 'quarantined' },
    });
    expect(
      events(two)
        .filter((e) => e.target === 'sh__fixture_rug')
        .map((e) => e.type),
    ).toEqual(['tool.pin', 'tool.change', 'tool.quarantine']);
  });
});

describe('pinning modes', () => {
  // One gateway, one server per mode: `ra` requires approval of every new definition, `fx` quarantines
  // definitions flagged on first sight, `loose` pins nothing. Each test looks only at its own servers.
  let gateway: RunningGateway;
  beforeAll(async () => {
    gateway = await startGateway({
      servers: {
        ra: fixtureServer({ pinning: 'require-approval', env: { FIXTURE_SCHEME: 'ra' } }),
        fx: fixtureServer({ quarantineFlagged: true, env: { FIXTURE_RUG: 'description' } }),
        loose: fixtureServer({ pinning: 'off', env: { FIXTURE_RUG: 'description', FIXTURE_SCHEME: 'loose' } }),
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('require-approval: new tools wait (hidden, refused as pending) until a person approves each', async () => {
    const { client } = await agent(gateway);
    const own = async () => (await names(client)).filter((name) => name.startsWith('ra__'));
    expect(await own()).toEqual([]);
    const refused = await attempt(client, 'ra__fixture_pid');
    expect(refused).toMatchObject({ ok: false, code: -32600, data: { status: 'pending', tool: 'ra__fixture_pid' } });
    expect(refused.ok === false && refused.message).toMatch(/is waiting for approval of its definition/);
    const raPins = pins(gateway, { server: 'ra' });
    expect(raPins.length).toBeGreaterThan(0);
    expect(new Set(raPins.map((p) => p.status))).toEqual(new Set(['pending']));
    expect((await cli(gateway, ['tools', 'diff', 'ra__fixture_pid'])).stdout).toContain(
      'never approved; the whole current definition:',
    );

    expect((await cli(gateway, ['tools', 'approve', 'ra__fixture_pid'])).code).toBe(0);
    await waitFor(
      async () => ((await own()).includes('ra__fixture_pid') ? true : undefined),
      'the approved tool to be listed',
    );
    expect(await own()).toEqual(['ra__fixture_pid']);
    expect(Number(textOf(await client.callTool({ name: 'ra__fixture_pid', arguments: {} })))).toBeGreaterThan(0);
  });

  it('quarantineFlagged: a definition flagged on first sight is quarantined; others are trusted; off pins nothing', async () => {
    const { client } = await agent(gateway);
    const listed = await names(client);
    expect(listed).not.toContain('fx__fixture_rug');
    expect(listed).toContain('fx__fixture_pid');
    expect(listed).toContain('loose__fixture_rug');
    expect(pinOf(gateway, 'fx__fixture_rug')).toMatchObject({
      status: 'quarantined',
      flags: expect.arrayContaining(['important-block']),
    });
    expect(pinOf(gateway, 'fx__fixture_rug')?.pinnedHash).toBeUndefined();
    expect(pins(gateway, { server: 'loose' })).toEqual([]);
    // refused by name with its own reason: never approved, flagged on first sight (not "changed since it was approved")
    const refused = await attempt(client, 'fx__fixture_rug', { text: 'x' });
    expect(refused).toMatchObject({ ok: false, code: -32600, data: { status: 'quarantined', cause: 'flagged' } });
    expect(refused.ok === false && refused.message).toMatch(
      /Tool fx__fixture_rug is quarantined: its definition was flagged when first seen .* has never been approved/,
    );
    expect(refused.ok === false && refused.message).not.toMatch(/changed since it was approved/);
    expect(await attempt(client, 'loose__fixture_rug', { text: 'x' })).toEqual({ ok: true, text: 'rug: x' });
    expect(events(gateway).find((e) => e.target === 'fx__fixture_rug')).toMatchObject({
      type: 'tool.quarantine',
      data: { status: 'quarantined', previousHash: null },
    });
  });
});

describe('pins and policy', () => {
  it('a quarantined tool the policy hides still reads as unknown; one it allows says quarantined', async () => {
    const dir = await makeTempDir('warden-pins-policy');
    cleanups.push(() => dir.cleanup());
    const policy = join(dir.path, 'policy.yaml');
    await writeFile(
      policy,
      `version: 1
agents:
  - id: local
    match: { authMethod: unauthenticated-local }
    grants:
      - { id: some, effect: allow, tools: [fx__fixture_mutate, fx__fixture_rug] }
      - { id: other, effect: allow, tools: [other__fixture_mutate] }
`,
    );
    const gateway = await gatewayWith(
      { fx: fixtureServer(), other: fixtureServer({ env: { FIXTURE_SCHEME: 'other' } }) },
      { policy: { files: [policy] } },
    );
    const { client } = await agent(gateway);
    const served = async () => (await names(client)).filter((name) => !name.startsWith('warden__')).sort();
    expect(await served()).toEqual(['fx__fixture_mutate', 'fx__fixture_rug', 'other__fixture_mutate']);
    await attempt(client, 'fx__fixture_mutate', { variant: 'description' });
    await attempt(client, 'other__fixture_mutate', { variant: 'description' });
    // On a loaded 2-core CI machine a list_changed round trip through two processes can take seconds;
    // these waits are bounded only by the helpers' hang guard.
    await waitFor(async () => ((await served()).length === 2 ? true : undefined), 'fx__fixture_rug to be hidden');
    // The other server's change arrives on its own list_changed, and the gateway records it when the agent
    // next lists (views are rebuilt on demand): keep listing until it is recorded, rather than race it.
    await waitFor(async () => {
      await served();
      return pinOf(gateway, 'other__fixture_rug')?.status === 'quarantined' ? true : undefined;
    }, 'other__fixture_rug to be quarantined');
    expect(await attempt(client, 'fx__fixture_rug', { text: 'x' })).toMatchObject({
      ok: false,
      code: -32600,
      data: { status: 'quarantined' },
    });
    expect(await attempt(client, 'other__fixture_rug', { text: 'x' })).toMatchObject({
      ok: false,
      code: -32602,
      message: 'MCP error -32602: Unknown tool: other__fixture_rug',
    });
  });
});

describe('tools CLI errors', () => {
  it('usage errors exit 2; a data folder without pins says so', async () => {
    const dir = await makeTempDir('warden-pins-cli');
    cleanups.push(() => dir.cleanup());
    const config = join(dir.path, 'mcp.config.json');
    await writeFile(config, JSON.stringify({ version: 1, dataDir: './data', servers: {} }));
    expect(runCli(config, ['tools', 'list'])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^no tool definitions recorded yet/),
    });
    expect(runCli(config, ['tools', 'list', '--json'])).toMatchObject({ code: 0, stdout: '[]\n' });
    expect(runCli(config, ['tools', 'diff', 'fx__x'])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/no tool definitions recorded yet/),
    });
    expect(runCli(config, ['tools', 'list', '--status', 'odd']).code).toBe(2);
    expect(runCli(config, ['tools', 'approve']).code).toBe(2);
    expect(runCli(config, ['tools', 'frobnicate', 'x']).code).toBe(2);
    expect(runCli(config, ['tools', 'approve', 'x', '--kind', 'resource']).code).toBe(2);
  });
});
