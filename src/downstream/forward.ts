import {
  ErrorCode,
  McpError,
  type ProgressNotification,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { $ZodError } from 'zod/v4/core';
import { deny, ok, type Outcome } from '../pipeline/denial.js';
import type { RequestEnvelope } from '../model/request-envelope.js';
import { cleanText } from '../model/sanitize.js';
import { withCallHeaders } from './call-headers.js';
import type { DownstreamClient } from './modern-client.js';

/**
 * The agent-side end of one forwarded request: where its progress, log messages and server→client
 * requests go. Built per agent request by the session (gateway/relay-link.ts).
 */
export interface RelayLink {
  /** The token the gateway puts in `_meta.progressToken` downstream, when the agent asked for progress. */
  readonly outboundProgressToken: string | undefined;
  /** Relays a progress notification if its token is this link's; returns whether it was. */
  progress(params: ProgressNotification['params']): boolean;
  notify(notification: ServerNotification): Promise<void>;
  /** `inputKey`: the key a 2026 server gave this request in its `inputRequests` (from the SDK v2 client). */
  relayRequest(request: { method: string; params?: unknown }, signal: AbortSignal, inputKey?: string): Promise<unknown>;
  /** Waits until every notification relayed so far has been handed to the agent's transport. */
  flush(): Promise<void>;
}

export interface ForwardOptions<T> {
  client: DownstreamClient;
  serverId: string;
  method: string;
  params: Record<string, unknown>;
  resultSchema: z.ZodType<T>;
  /** The agent's cancellation. */
  signal: AbortSignal;
  timeoutMs: number;
  link?: RelayLink;
  /** Headers for this request alone on an HTTP server (the call's secrets, trace context); none on stdio. */
  headers?: Readonly<Record<string, string>>;
  /** The hot path (raw-forward.ts): the request is written without the SDK client's protocol layer where the transport allows. */
  raw?: boolean;
  /** A 2026 agent's request: its declared capabilities and log level, for a 2026 server (modern-client.ts); a 2025 one ignores it. */
  envelope?: RequestEnvelope;
}

const SDK_PREFIX = /^MCP error -?\d+: /;

/** Sends one request downstream with a deadline and maps every way it can fail to a denial value. */
export async function forwardRequest<T>(options: ForwardOptions<T>): Promise<Outcome<T>> {
  const { client, serverId, timeoutMs, link } = options;
  // One signal for the agent's cancellation and the deadline. Not AbortSignal.any(): on Node 20 a
  // combined signal that is given a listener (the SDK adds one) and never aborts stays referenced by
  // Node for good, and with it the SDK client and the whole agent session (found by `npm run bench`:
  // about 1 MB per closed session). A plain controller is released with the call.
  const combined = new AbortController();
  let timedOut = false;
  const cancelled = (): void => combined.abort(options.signal.reason);
  const timer = setTimeout(() => {
    timedOut = true;
    combined.abort(new Error('deadline'));
  }, timeoutMs);
  if (options.signal.aborted) cancelled();
  else options.signal.addEventListener('abort', cancelled, { once: true });
  const signal = combined.signal;
  let params = options.params;
  if (link?.outboundProgressToken !== undefined) {
    const meta = (params._meta as Record<string, unknown> | undefined) ?? {};
    params = { ...params, _meta: { ...meta, progressToken: link.outboundProgressToken } };
  } else if (params._meta && typeof params._meta === 'object' && 'progressToken' in params._meta) {
    // Never pass the agent's own token through: progress would come back unroutable.
    const { progressToken: _dropped, ...meta } = params._meta as Record<string, unknown>;
    params = { ...params, _meta: meta };
  }
  try {
    // The SDK's own timeout is a backstop only; the deadline above is what cancels.
    const send = () =>
      client.request(
        { method: options.method, params } as never,
        options.resultSchema as never,
        {
          signal,
          timeout: timeoutMs + 5_000,
          ...(options.envelope && { envelope: options.envelope }),
        } as never,
      );
    const result = await (options.headers ? withCallHeaders(options.headers, send) : send());
    await link?.flush();
    return ok(result as T);
  } catch (error) {
    await link?.flush();
    if (timedOut && !options.signal.aborted) {
      return deny({
        kind: 'timeout',
        server: serverId,
        timeoutMs,
        reason: `no answer within ${timeoutMs} ms; cancelled downstream`,
      });
    }
    if (options.signal.aborted) throw error;
    // Not connected: the SDK says so only in its message; the client's own state says it as a fact.
    if (client.transport === undefined)
      return deny({ kind: 'downstream_closed', server: serverId, reason: 'not connected' });
    return deny(mapError(serverId, error));
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', cancelled);
  }
}

/** Every way a forwarded request can fail, as a denial (shared with raw-forward.ts). */
export function mapError(serverId: string, error: unknown) {
  if (error instanceof McpError) {
    if (error.code === ErrorCode.ConnectionClosed) {
      return { kind: 'downstream_closed', server: serverId, reason: 'connection closed during the call' } as const;
    }
    // Secrets are removed (and the text cut) by the egress stage, which every denial passes.
    const message = cleanText(error.message.replace(SDK_PREFIX, ''));
    return {
      kind: 'downstream_error',
      server: serverId,
      code: error.code,
      message,
      data: error.data,
      reason: `downstream error ${error.code}`,
    } as const;
  }
  // The SDK rejects a result that fails its schema with the zod error itself (named `$ZodError`, so a
  // check of `name === 'ZodError'` never matched): classified by its class.
  if (error instanceof $ZodError) {
    return {
      kind: 'downstream_error',
      server: serverId,
      code: ErrorCode.InternalError,
      message: `Server ${serverId} returned a malformed result`,
      reason: 'result failed schema validation',
    } as const;
  }
  const text = error instanceof Error ? error.message : String(error);
  return { kind: 'server_unavailable', server: serverId, reason: cleanText(text) } as const;
}
