// The session half of the tools/call hot path (docs/performance.md, "The tools/call hot path"). The
// ingress hands a parsed request straight to the session's own `tools/call` handler, without the SDK
// server's transport and protocol layer; the handler, the pipeline and every stage are the ones the SDK
// path runs. Only requests the hot path can answer exactly are taken; the rest go the SDK way.
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import {
  ErrorCode,
  type CallToolRequest,
  type ClientCapabilities,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';

/** One `tools/call` for the hot path, already parsed with the SDK's `CallToolRequestSchema`. */
export interface HotToolCall {
  id: string | number;
  request: CallToolRequest;
  /** How the SDK carries the principal to handlers (`extra.authInfo`), built the same way (HTTP only). */
  authInfo?: AuthInfo;
  /** The HTTP request's headers (`extra.requestInfo`); absent on stdio, as the SDK's stdio transport gives none. */
  headers?: IncomingHttpHeaders;
  signal: AbortSignal;
  /** Where notifications for the agent during the call go (its log messages), in order; absent: dropped. */
  notify?: (notification: ServerNotification) => void;
}

/** One `tools/list` for the hot path, already parsed with the SDK's `ListToolsRequestSchema`. */
export interface HotToolsList {
  id: string | number;
  cursor: string | undefined;
  _meta: Record<string, unknown> | undefined;
  authInfo?: AuthInfo;
  headers?: IncomingHttpHeaders;
  signal: AbortSignal;
}

/** A list's answer: the result's JSON as UTF-8 pieces in order (the remembered page), or an error as for a call. */
export type HotListAnswer = { resultChunks: Buffer[] } | Extract<HotAnswer, { error: unknown }>;

/** The JSON-RPC answer: a result, or an error as the SDK's protocol layer would have written it. */
export type HotAnswer =
  { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };

/**
 * Why this call must take the SDK path (undefined: the hot path answers it exactly). Decided before
 * anything is forwarded: progress needs the SDK's token mapping and a stream to the agent; a task is
 * answered later; an agent that can be asked things (sampling, elicitation, roots, an approval question)
 * needs a stream on which the question can travel while the call runs.
 */
export function hotPathBlocker(
  request: CallToolRequest,
  capabilities: ClientCapabilities | undefined,
): string | undefined {
  const params = request.params;
  if (params.task !== undefined) return 'task';
  const meta = params._meta as Record<string, unknown> | undefined;
  if (meta?.progressToken !== undefined) return 'progress';
  if (capabilities?.sampling || capabilities?.elicitation || capabilities?.roots) return 'client requests';
  return undefined;
}

/** A handler's failure as the SDK's protocol layer answers it (shared/protocol.js, `_onrequest`). */
export function errorAnswer(error: unknown): HotAnswer {
  const e = error as { code?: unknown; message?: unknown; data?: unknown } | null;
  const code = typeof e?.code === 'number' && Number.isSafeInteger(e.code) ? e.code : ErrorCode.InternalError;
  const message = typeof e?.message === 'string' ? e.message : 'Internal error';
  return { error: { code, message, ...(e?.data !== undefined && { data: e.data }) } };
}
