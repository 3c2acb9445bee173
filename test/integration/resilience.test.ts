// Faults through the real gateway: the agent cancels, a call passes its deadline, a downstream dies
// mid-call (exits, SIGKILL over stdio, SIGKILL of a launched HTTP server), a downstream writes garbage.
// Each call fails fast with a clear error, nothing is replayed, the other server keeps working, and the
// dead server comes back.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, pidOf, recordNotifications, startSleep, textOf, type Recorded } from '../helpers/agent.js';
import {
  connectHttp,
  fixtureServer,
  launchedFixtureServer,
  startFixtureHttp,
  startGateway,
  type RunningGateway,
} from '../helpers/gateway.js';
import { isAlive, makeTempDir, waitFor, waitForExit, type ReadyProcess, type TempDir } from '../helpers/process.js';

const TIMEOUT_MS = 500;
/**
 * "Fast": well under any deadline involved (the sleeps below are 120 s, the servers' timeoutMs 30 s), so
 * a call that waited for one of them fails, while a loaded machine (a fast path that takes 0.5 s idle
 * took 2.4 s at load 20) still passes.
 */
const FAST_MS = 15_000;
const SERVER_TIMEOUT_MS = 30_000;
const SLEEP_MS = 120_000;

let logs: TempDir;
let web: ReadyProcess;
let gateway: RunningGateway;
let agent: Client;
let seen: Recorded[];

/** Every fixture appends the name of each call it receives to its own file: counts survive restarts. */
const callLog = (server: string) => join(logs.path, `${server}.calls`);
async function callsTo(server: string, tool: string): Promise<number> {
  const text = await readFile(callLog(server), 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line === tool).length;
}

beforeAll(async () => {
  logs = await makeTempDir('warden-calls');
  await Promise.all(['fx', 'web', 'up', 'slow'].map((server) => writeFile(callLog(server), '')));
  web = await startFixtureHttp({ FIXTURE_SCHEME: 'web', FIXTURE_CALL_LOG: callLog('web') });
  gateway = await startGateway({
    servers: {
      fx: fixtureServer({ env: { FIXTURE_CALL_LOG: callLog('fx') }, timeoutMs: SERVER_TIMEOUT_MS }),
      web: { transport: 'http', url: web.url, timeoutMs: SERVER_TIMEOUT_MS },
      up: launchedFixtureServer(
        { timeoutMs: SERVER_TIMEOUT_MS },
        { FIXTURE_SCHEME: 'up', FIXTURE_CALL_LOG: callLog('up') },
      ),
      slow: fixtureServer({
        env: { FIXTURE_SCHEME: 'slow', FIXTURE_CALL_LOG: callLog('slow') },
        timeoutMs: TIMEOUT_MS,
      }),
    },
  });
  ({ client: agent } = await connectHttp(gateway.url));
  seen = recordNotifications(agent);
});

afterAll(async () => {
  await agent?.close();
  await gateway?.stop();
  await web?.stop();
  await logs?.cleanup();
});

const lastCancelled = async (prefix: string) =>
  (await call(agent, `${prefix}__fixture_last_cancelled`)).structuredContent?.cancelled === true;

describe('cancellation and deadlines', () => {
  it.each(['fx', 'web', 'up'])('cancels the %s call downstream when the agent aborts it', async (prefix) => {
    const abort = new AbortController();
    const { result } = await startSleep(agent, seen, prefix, SLEEP_MS, { signal: abort.signal });
    expect(await lastCancelled(prefix)).toBe(false);
    const started = Date.now();
    abort.abort('changed my mind');
    await expect(result).rejects.toThrow();
    await waitFor(() => lastCancelled(prefix), `${prefix} to see notifications/cancelled`);
    expect(Date.now() - started).toBeLessThan(FAST_MS);
    expect(textOf(await call(agent, `${prefix}__test_simple_text`))).toMatch(/simple text/);
  });

  it('answers a call past the server timeoutMs with -32001 and cancels it downstream', async () => {
    const started = Date.now();
    const error = await call(agent, 'slow__fixture_sleep', { ms: SLEEP_MS }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toEqual(
      expect.objectContaining({
        code: ErrorCode.RequestTimeout,
        message: `MCP error -32001: Server slow did not answer within ${TIMEOUT_MS} ms; the call was cancelled`,
      }),
    );
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(FAST_MS);
    await waitFor(() => lastCancelled('slow'), 'the downstream to see notifications/cancelled');
    expect(await callsTo('slow', 'fixture_sleep')).toBe(1);
  });
});

describe('a downstream that dies mid-call', () => {
  it('exit during the call (stdio): fails fast, not replayed, others unaffected, restarted', async () => {
    const pid = await pidOf(agent, 'fx');
    const webPid = await pidOf(agent, 'web');
    const started = Date.now();
    const error = await call(agent, 'fx__fixture_crash').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(FAST_MS);
    expect(error).toEqual(
      expect.objectContaining({
        code: ErrorCode.InternalError,
        message: expect.stringMatching(/Server fx closed the connection during the call; it was not retried/),
      }),
    );
    await waitForExit(pid);

    expect(await pidOf(agent, 'web')).toBe(webPid);
    const restarted = await eventually(() => pidOf(agent, 'fx'), 'fx to restart');
    expect(restarted).not.toBe(pid);
    expect(isAlive(restarted)).toBe(true);
    expect(await callsTo('fx', 'fixture_crash')).toBe(1);
    expect(await callsTo('fx', 'fixture_pid')).toBeGreaterThanOrEqual(2);
  });

  it('SIGKILL during the call (stdio): fails fast, not replayed, restarted', async () => {
    const pid = await eventually(() => pidOf(agent, 'fx'), 'fx to be up');
    const sleepsBefore = await callsTo('fx', 'fixture_sleep');
    const { result } = await startSleep(agent, seen, 'fx', SLEEP_MS);
    const started = Date.now();
    process.kill(pid, 'SIGKILL');
    const error = await result.catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(FAST_MS);
    expect(error).toEqual(
      expect.objectContaining({
        code: ErrorCode.InternalError,
        message: expect.stringMatching(/Server fx closed the connection during the call/),
      }),
    );
    expect(textOf(await call(agent, 'web__test_simple_text'))).toMatch(/simple text/);

    const restarted = await eventually(() => pidOf(agent, 'fx'), 'fx to restart');
    expect(restarted).not.toBe(pid);
    expect(await callsTo('fx', 'fixture_sleep')).toBe(sleepsBefore + 1);
  });

  it('SIGKILL of a launched HTTP server during the call: fails fast, relaunched, reconnected', async () => {
    const pid = await pidOf(agent, 'up');
    const sleepsBefore = await callsTo('up', 'fixture_sleep');
    const { result } = await startSleep(agent, seen, 'up', SLEEP_MS);
    const started = Date.now();
    process.kill(pid, 'SIGKILL');
    const error = await result.catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(FAST_MS);
    expect(error).toEqual(
      expect.objectContaining({
        code: ErrorCode.InternalError,
        message: 'MCP error -32603: Server up closed the connection during the call; it was not retried',
      }),
    );
    expect(textOf(await call(agent, 'fx__test_simple_text'))).toMatch(/simple text/);

    const restarted = await eventually(() => pidOf(agent, 'up'), 'up to be relaunched and reconnected');
    expect(restarted).not.toBe(pid);
    expect(await callsTo('up', 'fixture_sleep')).toBe(sleepsBefore + 1);
  });
});

describe('a downstream that writes garbage', () => {
  it('drops a non-JSON line and a response to an unknown id, and keeps the connection', async () => {
    const pid = await eventually(() => pidOf(agent, 'fx'), 'fx to be up');
    const result = await call(agent, 'fx__fixture_garbage');
    expect(result).toEqual({ content: [{ type: 'text', text: 'answered after garbage' }] });
    expect(textOf(await call(agent, 'fx__test_simple_text'))).toMatch(/simple text/);
    expect(await pidOf(agent, 'fx')).toBe(pid);
    const stderr = gateway.process.stderr();
    expect(stderr).toMatch(/downstream protocol error; message dropped/);
  });
});
