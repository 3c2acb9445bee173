// The stdio tools/call and tools/list hot path (issue 21, src/ingress/stdio-hot.ts): two real `mcp-warden
// stdio` processes with one config, one with the hot path (the default) and one with `gateway.hotPath:
// false` (every line through the SDK server), must give the agent the same answers, the same log
// messages and the same lists, and the audit the same rows. The fixture's `fixture_request_headers`
// returns the JSON-RPC id the gateway used downstream: the hot path's own ids are `warden-hot-…`
// strings, the SDK client's numbers, so the test also proves that the hot path served the call (and
// that progress, a malformed call and the task tools still take the SDK path).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { runCliAsync } from '../helpers/cli.js';
import { connectStdio, fixtureServer, writeConfig } from '../helpers/gateway.js';
import { recordNotifications, type Recorded } from '../helpers/agent.js';
import type { TempDir } from '../helpers/process.js';

interface Side {
  dir: TempDir;
  file: string;
  client: Client;
  seen: Recorded[];
}

interface Answer {
  ok: boolean;
  result?: Record<string, unknown>;
  code?: number;
  message?: string;
}

async function callTool(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Answer> {
  return client.callTool({ name, arguments: args }).then(
    (result) => ({ ok: true, result: result as Record<string, unknown> }),
    (error: { code?: number; message?: string }) => ({ ok: false, code: error.code, message: String(error.message) }),
  );
}

/** The downstream JSON-RPC id of a `fixture_request_headers` call. */
async function downstreamId(client: Client, args: Record<string, unknown> = {}, meta?: Record<string, unknown>) {
  const result = await client.callTool({ name: 'fx__fixture_request_headers', arguments: args, _meta: meta });
  return (result.structuredContent as { requestId: unknown }).requestId;
}

describe('the stdio hot path answers and records exactly what the SDK path does', () => {
  let hot: Side;
  let sdk: Side;

  async function side(hotPath: boolean): Promise<Side> {
    const { dir, file } = await writeConfig({
      gateway: { hotPath },
      servers: { fx: fixtureServer() },
    });
    const { client } = await connectStdio(file);
    return { dir, file, client, seen: recordNotifications(client) };
  }

  beforeAll(async () => {
    [hot, sdk] = await Promise.all([side(true), side(false)]);
  });

  afterAll(async () => {
    await hot?.client.close();
    await sdk?.client.close();
    await hot?.dir.cleanup();
    await sdk?.dir.cleanup();
  });

  it('same answers, log messages and audit rows; the hot gateway served the calls without the SDK', async () => {
    const calls: [string, Record<string, unknown>][] = [
      ['fx__test_simple_text', {}],
      ['fx__test_error_handling', {}],
      ['fx__test_tool_with_logging', {}],
      ['fx__test_image_content', {}],
      ['fx__no_such_tool', {}],
      ['fx__fixture_last_cancelled', { extra: 1 }],
    ];
    for (const [name, args] of calls) {
      const [viaHot, viaSdk] = [await callTool(hot.client, name, args), await callTool(sdk.client, name, args)];
      expect(viaHot, name).toEqual(viaSdk);
    }
    const logs = (s: Side) => s.seen.filter((n) => n.method === 'notifications/message').map((n) => n.params?.data);
    expect(logs(hot)).toEqual(['Tool execution started', 'Tool processing data', 'Tool execution completed']);
    expect(logs(hot)).toEqual(logs(sdk));

    expect(String(await downstreamId(hot.client))).toMatch(/^warden-hot-/);
    expect(typeof (await downstreamId(sdk.client))).toBe('number');
    // A progress token needs the SDK's token mapping: the SDK path, on the hot gateway too.
    expect(typeof (await downstreamId(hot.client, {}, { progressToken: 'p1' }))).toBe('number');
    expect(typeof (await downstreamId(sdk.client, {}, { progressToken: 'p1' }))).toBe('number');

    const rows = async (s: Side) =>
      (
        JSON.parse((await runCliAsync(s.file, ['audit', 'list', '--json', '-n', '100'])).stdout) as {
          method: string;
          target: string | null;
          decision: string | null;
          outcome: string;
        }[]
      )
        .map((r) => `${r.method} ${r.target} ${r.decision} ${r.outcome}`)
        .sort();
    expect(await rows(hot)).toEqual(await rows(sdk));
  });

  it('a malformed tools/call and a task tool get the answers of the SDK path', async () => {
    const missingName = (s: Side) =>
      s.client.request({ method: 'tools/call', params: { arguments: {} } as never }, CallToolResultSchema).then(
        () => ({ code: 0, message: 'answered' }),
        (error: { code: number; message: string }) => ({ code: error.code, message: error.message }),
      );
    const [viaHot, viaSdk] = [await missingName(hot), await missingName(sdk)];
    expect(viaHot.code).not.toBe(0);
    expect(viaHot).toEqual(viaSdk);
    const endTask = async (s: Side) => callTool(s.client, 'warden__end_task', {});
    expect(await endTask(hot)).toEqual(await endTask(sdk));
  });

  it('tools/list pages are the same', async () => {
    const [a, b] = [await hot.client.listTools(), await sdk.client.listTools()];
    expect(a.tools.length).toBeGreaterThan(10);
    expect(a).toEqual(b);
    // Twice: the second list is served from the remembered page.
    expect(await hot.client.listTools()).toEqual(b);
  });

  it('a cancelled hot call is cancelled downstream and recorded as cancelled, and the session goes on', async () => {
    const controller = new AbortController();
    const pending = hot.client.callTool({ name: 'fx__fixture_sleep', arguments: { ms: 60_000 } }, undefined, {
      signal: controller.signal,
    });
    // The call reaches the server before it is cancelled: wait for its intent row.
    for (;;) {
      const listed = JSON.parse(
        (await runCliAsync(hot.file, ['audit', 'list', '--tool', 'fx__fixture_sleep', '--json'])).stdout,
      ) as unknown[];
      if (listed.length > 0) break;
    }
    controller.abort();
    await expect(pending).rejects.toThrow();
    for (;;) {
      const last = await callTool(hot.client, 'fx__fixture_last_cancelled');
      if ((last.result?.structuredContent as { cancelled: boolean }).cancelled) break;
    }
    const rows = JSON.parse(
      (await runCliAsync(hot.file, ['audit', 'list', '--tool', 'fx__fixture_sleep', '--json'])).stdout,
    ) as { outcome: string }[];
    expect(rows.map((r) => r.outcome)).toContain('cancelled');
    expect(await callTool(hot.client, 'fx__test_simple_text')).toMatchObject({ ok: true });
  });
});
