// What an agent-side test does with a connected SDK client: record every notification raw (in arrival
// order, progress included: the SDK's own progress handling is switched off), call the fixture's test
// aids, and wait for a call to have reached the downstream before cancelling it or killing the server.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { HANG_GUARD_MS, waitFor } from './process.js';

export interface Recorded {
  method: string;
  params?: Record<string, unknown>;
}

/**
 * Every notification the client receives, in order. Progress is taken away from the SDK (which would
 * want `onprogress`) so the test sees exactly what the gateway sent.
 */
export function recordNotifications(client: Client): Recorded[] {
  const seen: Recorded[] = [];
  client.removeNotificationHandler('notifications/progress');
  client.fallbackNotificationHandler = async (notification) => {
    seen.push(notification as Recorded);
  };
  return seen;
}

export function progressFor(seen: readonly Recorded[], token: string | number): Recorded[] {
  return seen.filter((n) => n.method === 'notifications/progress' && n.params?.progressToken === token);
}

export function textOf(result: unknown): string {
  const content = (result as CallToolResult).content;
  const first = content[0];
  if (first?.type !== 'text') throw new Error(`expected a text result, got ${JSON.stringify(result)}`);
  return first.text;
}

export async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  options?: RequestOptions,
): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args }, undefined, options)) as CallToolResult;
}

/** The PID of the fixture behind `prefix` (its fixture_pid tool). */
export async function pidOf(client: Client, prefix: string): Promise<number> {
  const result = await call(client, `${prefix}__fixture_pid`);
  return (result.structuredContent as { pid: number }).pid;
}

let tokens = 0;

/**
 * Starts `<prefix>__fixture_sleep` with a progress token and resolves once the fixture has reported that
 * the sleep began (its progress 0), so the call is known to be in flight downstream.
 */
export async function startSleep(
  client: Client,
  seen: readonly Recorded[],
  prefix: string,
  ms: number,
  options: RequestOptions = {},
): Promise<{ result: Promise<CallToolResult>; token: string }> {
  const token = `sleep-${process.pid}-${++tokens}`;
  const result = client.callTool(
    { name: `${prefix}__fixture_sleep`, arguments: { ms }, _meta: { progressToken: token } },
    undefined,
    options,
  ) as Promise<CallToolResult>;
  // Keep an early rejection from being unhandled while we wait for the start signal.
  result.catch(() => undefined);
  await Promise.race([
    waitFor(() => progressFor(seen, token).length > 0, `${prefix}__fixture_sleep to start`),
    result.then(() => {
      throw new Error(`${prefix}__fixture_sleep finished before it was seen to start`);
    }),
  ]);
  return { result, token };
}

/** Calls `fn` until it resolves (errors while a server restarts are expected), bounded by `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T>, what: string, timeoutMs = HANG_GUARD_MS): Promise<T> {
  let last: unknown;
  const value = await waitFor(
    async () => {
      try {
        return { value: await fn() };
      } catch (error) {
        last = error;
        return undefined;
      }
    },
    what,
    timeoutMs,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; last error: ${String(last)}`);
  });
  return value.value;
}
